// Invite codes (DESIGN "Trust", enrollment): 13 random base32 characters (65 bits) and one
// luhn32 check character, shown as four dash-separated groups (e.g. K7QM-2XHP-NRTA-4C). The code
// is the only secret the two machines share; the CA keeps a slow hash of it (the code key), never the code itself.
import { randomInt, scrypt } from 'node:crypto';
import { P2pfxError } from '../core/errors.js';
import { MiB } from '../core/limits.js';
import { luhn32 } from './node-id.js';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'; // RFC 4648, as node ids
/** Random characters: 13 × 5 = 65 bits, out of reach of online guessing and costly offline (scrypt). */
export const INVITE_CODE_DATA_CHARS = 13;
/** Data characters and the check character, without dashes. */
export const INVITE_CODE_CHARS = INVITE_CODE_DATA_CHARS + 1;
const DISPLAY_GROUPS = [4, 4, 4, 2] as const;

/** Fixed salt: the code is random and used once, so a per-invite salt would add nothing; the label separates it from other uses. */
const CODE_KEY_SALT = 'p2pfx-invite-v1';
const CODE_KEY_BYTES = 32;
// scrypt N=2^15, r=8, p=1: ~100 ms and 32 MiB per guess for whoever tries codes offline.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * MiB } as const; // the default maxmem (32 MiB) is just too small for N·r·128

/** A fresh code, formatted for display (four dash-separated groups, e.g. K7QM-2XHP-NRTA-4C). */
export function generateInviteCode(): string {
  let data = '';
  for (let i = 0; i < INVITE_CODE_DATA_CHARS; i++) data += BASE32_ALPHABET[randomInt(BASE32_ALPHABET.length)];
  return formatInviteCode(data + luhn32(data));
}

/**
 * The normalized code (14 upper-case characters, no dashes) of what a user typed: any case,
 * with or without dashes and spaces. Throws INVITE_CODE_INVALID for a wrong length, a character
 * outside the alphabet, or a check character that does not match (one mistyped character).
 * The message never repeats the code: it is a secret, and error output ends up in logs.
 */
export function parseInviteCode(text: string): string {
  const compact = typeof text === 'string' ? text.replace(/[-\s]/g, '').toUpperCase() : '';
  const fail = (why: string): P2pfxError => new P2pfxError('INVITE_CODE_INVALID', `the invite code ${why}`);
  if (compact.length !== INVITE_CODE_CHARS) {
    throw fail(`has ${compact.length} letters and digits; a code has ${INVITE_CODE_CHARS} (four dash-separated groups, e.g. K7QM-2XHP-NRTA-4C)`);
  }
  const bad = [...compact].find((c) => !BASE32_ALPHABET.includes(c));
  if (bad !== undefined) throw fail(`contains ${JSON.stringify(bad)}: codes use the letters A-Z and the digits 2-7 only`);
  const data = compact.slice(0, INVITE_CODE_DATA_CHARS);
  if (luhn32(data) !== compact[INVITE_CODE_DATA_CHARS]) {
    throw fail('does not match its check character (its last one): a character was mistyped');
  }
  return compact;
}

/** The display form (four dash-separated groups, e.g. K7QM-2XHP-NRTA-4C) of a valid code in any accepted spelling. Throws INVITE_CODE_INVALID. */
export function formatInviteCode(code: string): string {
  const compact = parseInviteCode(code);
  const groups: string[] = [];
  let at = 0;
  for (const size of DISPLAY_GROUPS) {
    groups.push(compact.slice(at, at + size));
    at += size;
  }
  return groups.join('-');
}

/**
 * The code key: scrypt of the normalized code. The CA stores it when it makes the invite and the
 * joiner computes it from what was typed; both MAC the exchange with keys derived from it.
 * Throws INVITE_CODE_INVALID for a code parseInviteCode refuses.
 */
export async function inviteCodeKey(code: string): Promise<Buffer> {
  const normalized = parseInviteCode(code);
  return new Promise((resolve, reject) => {
    scrypt(normalized, CODE_KEY_SALT, CODE_KEY_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
