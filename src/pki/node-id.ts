// Node ids, as Syncthing's device ids: SHA-256 of the certificate's SubjectPublicKeyInfo, base32,
// with a Luhn mod 32 check character after each 13 characters, shown as 8 groups of 7.
// Hashing the public key (not the whole certificate) keeps a node's id when its certificate is
// renewed with the same key.
import { createHash } from 'node:crypto';
import { P2pfxError } from '../core/errors.js';
import { readCertPem } from './cert-pem.js';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'; // RFC 4648
const DIGEST_BYTES = 32; // SHA-256
const DATA_CHARS = 52; // ceil(256 bits / 5)
const LUHN_GROUP_CHARS = 13; // data characters per check character
const LUHN_GROUPS = DATA_CHARS / LUHN_GROUP_CHARS;
const ID_CHARS = DATA_CHARS + LUHN_GROUPS; // 56
const DISPLAY_GROUP_CHARS = 7;

/**
 * Syncthing's luhn32: the check character for `s` (characters of the base32 alphabet).
 * Not the textbook Luhn mod N, but doubling every second value and folding it (a/32 + a%32) is a
 * permutation of 0..31, so any single substituted character changes the sum and is caught.
 */
export function luhn32(s: string): string {
  const n = BASE32_ALPHABET.length;
  let factor = 1;
  let sum = 0;
  for (const char of s) {
    const codepoint = BASE32_ALPHABET.indexOf(char);
    if (codepoint < 0) throw new P2pfxError('INVALID_ARGUMENT', `luhn32: ${JSON.stringify(char)} is not a base32 character`);
    const addend = factor * codepoint;
    factor = factor === 2 ? 1 : 2;
    sum += Math.floor(addend / n) + (addend % n);
  }
  return BASE32_ALPHABET[(n - (sum % n)) % n] as string;
}

/** The canonical text of a 32-byte digest: 8 groups of 7 joined by '-'. */
export function formatNodeId(digest: Uint8Array): string {
  if (digest.length !== DIGEST_BYTES) {
    throw new P2pfxError('INVALID_ARGUMENT', `node id digest must be ${DIGEST_BYTES} bytes, got ${digest.length}`);
  }
  const data = base32Encode(digest);
  let withChecks = '';
  for (let g = 0; g < LUHN_GROUPS; g++) {
    const part = data.slice(g * LUHN_GROUP_CHARS, (g + 1) * LUHN_GROUP_CHARS);
    withChecks += part + luhn32(part);
  }
  const groups: string[] = [];
  for (let i = 0; i < withChecks.length; i += DISPLAY_GROUP_CHARS) groups.push(withChecks.slice(i, i + DISPLAY_GROUP_CHARS));
  return groups.join('-');
}

export function nodeIdFromSpki(spkiDer: Uint8Array): string {
  return formatNodeId(createHash('sha256').update(spkiDer).digest());
}

/** Throws CERT_INVALID when certPem is not one PEM certificate. */
export function nodeIdFromCertPem(certPem: string): string {
  return nodeIdFromSpki(readCertPem(certPem).publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * The 32-byte digest named by a node id. Accepts any case, with or without dashes or spaces, but
 * only the full 56-character form: every check character is verified, so one mistyped character
 * is an error rather than another node's id. Throws INVALID_ARGUMENT.
 */
export function parseNodeId(text: string): Uint8Array {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  const fail = (why: string): P2pfxError => new P2pfxError('INVALID_ARGUMENT', `node id "${shown}": ${why}`);
  const compact = text.replace(/[-\s]/g, '').toUpperCase();
  if (compact.length !== ID_CHARS) {
    throw fail(`expected ${ID_CHARS} characters (8 groups of 7), got ${compact.length}`);
  }
  const bad = [...compact].findIndex((c) => !BASE32_ALPHABET.includes(c));
  if (bad >= 0) throw fail(`"${compact[bad]}" is not allowed (letters A-Z and digits 2-7 only)`);
  let data = '';
  for (let g = 0; g < LUHN_GROUPS; g++) {
    const start = g * (LUHN_GROUP_CHARS + 1);
    const part = compact.slice(start, start + LUHN_GROUP_CHARS);
    if (compact[start + LUHN_GROUP_CHARS] !== luhn32(part)) {
      throw fail(`check character mismatch in group ${g + 1} (a typo in groups ${2 * g + 1}-${2 * g + 2} of 8)`);
    }
    data += part;
  }
  const digest = base32Decode(data);
  if (digest === undefined) throw fail('trailing bits are not zero');
  return digest;
}

export function normalizeNodeId(text: string): string {
  return formatNodeId(parseNodeId(text));
}

/** The first group, for display only (7 characters = 35 bits: not enough to authenticate). */
export function shortNodeId(id: string): string {
  return normalizeNodeId(id).slice(0, DISPLAY_GROUP_CHARS);
}

function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1; // keep only the bits not yet written
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** undefined when the unused low bits of the last character are set (a non-canonical spelling). */
function base32Decode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let i = 0;
  for (const char of text) {
    buffer = (buffer << 5) | BASE32_ALPHABET.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[i++] = (buffer >> bits) & 255;
      buffer &= (1 << bits) - 1;
    }
  }
  return buffer === 0 ? out : undefined;
}
