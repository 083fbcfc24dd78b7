// Key envelopes (DESIGN "Formats > Key envelopes"): the file's data key wrapped once per way in.
// Both wrap with AES-256-GCM under a key-encryption key, with the file id as associated data
// so an envelope cannot be moved to another file.
import {
  createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync,
  randomBytes, scrypt, type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { P2pfxError } from './errors.js';
import { MiB } from './limits.js';

export interface ScryptParams { N: number; r: number; p: number }
/**
 * DESIGN "Key envelopes": N = 2^15, r = 8, p = 3 (32 MiB, ~0.4 s here), one of the settings the
 * OWASP Password Storage Cheat Sheet lists as equal in defence to N = 2^17, r = 8, p = 1 (128 MiB,
 * ~1 s here), which took every command that derives a key over its 150 MiB budget. Envelopes
 * made with N = 2^17 (before this choice) still open: the parameters travel in the envelope.
 */
export const SCRYPT_DEFAULT: ScryptParams = { N: 2 ** 15, r: 8, p: 3 };
/** Caps on parameters read from a peer's manifest, so a hostile one cannot make us burn memory. */
const SCRYPT_MAX_LOG2N = 20;
const SCRYPT_MAX_R = 16;
const SCRYPT_MAX_P = 4;
/** scrypt needs 128·N·r·p bytes; twice the default is the most a manifest may ask of us. */
const SCRYPT_MAX_MEMORY_BYTES = 256 * MiB;

export interface PasswordEnvelope {
  type: 'password';
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string; // base64, 16 bytes
  nonce: string; // base64, 12 bytes
  wrapped: string; // base64: encrypted data key (32) ‖ tag (16)
}

export interface X25519Envelope {
  type: 'x25519';
  recipient: string; // node id of the recipient
  ephemeral: string; // base64 raw X25519 public key (32)
  nonce: string;
  wrapped: string;
}

export type KeyEnvelope = PasswordEnvelope | X25519Envelope;

const WRAP_LABEL = 'p2pfx/1 key';

/**
 * Starts deriving the key a later `wrapWithPassword` of this process will use (on libuv's pool):
 * a send begins it before it walks and uploads, and builds its manifest without waiting for scrypt.
 */
export function prepareWrap(password: string, params: ScryptParams = SCRYPT_DEFAULT): void {
  scryptKek(password, saltFor(password, params), params).catch(() => undefined);
}

export async function wrapWithPassword(dataKey: Uint8Array, fileId: Uint8Array, password: string, params: ScryptParams = SCRYPT_DEFAULT): Promise<PasswordEnvelope> {
  const salt = saltFor(password, params);
  const kek = await scryptKek(password, salt, params);
  const { nonce, wrapped } = wrap(kek, dataKey, fileId);
  return { type: 'password', kdf: 'scrypt', ...params, salt: salt.toString('base64'), nonce, wrapped };
}

/** Throws WRONG_PASSWORD when the password does not open the envelope. */
export async function unwrapWithPassword(env: PasswordEnvelope, fileId: Uint8Array, password: string): Promise<Buffer> {
  checkScryptParams(env);
  const kek = await scryptKek(password, Buffer.from(env.salt, 'base64'), env);
  const key = unwrap(kek, env, fileId);
  if (!key) throw new P2pfxError('WRONG_PASSWORD', 'the password does not open this file\'s key');
  return key;
}

export interface X25519KeyPair { publicKey: Buffer; privateKey: KeyObject }

export function generateX25519(): X25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: rawX25519(publicKey), privateKey };
}

export function rawX25519(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an X25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

export function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new P2pfxError('BAD_MANIFEST', 'X25519 public key must be 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** Wraps the data key for a node, known by its node id and X25519 public key. */
export function wrapForNode(dataKey: Uint8Array, fileId: Uint8Array, recipientId: string, recipientPublic: Uint8Array): X25519Envelope {
  const eph = generateX25519();
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519PublicFromRaw(recipientPublic) });
  const kek = x25519Kek(shared, eph.publicKey, recipientPublic, fileId);
  const { nonce, wrapped } = wrap(kek, dataKey, fileId);
  return { type: 'x25519', recipient: recipientId, ephemeral: eph.publicKey.toString('base64'), nonce, wrapped };
}

/** Returns null when the envelope was not made for this key pair (or was tampered with). */
export function unwrapForNode(env: X25519Envelope, fileId: Uint8Array, own: X25519KeyPair): Buffer | null {
  const ephemeral = Buffer.from(env.ephemeral, 'base64');
  if (ephemeral.length !== 32) return null;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own.privateKey, publicKey: x25519PublicFromRaw(ephemeral) });
  } catch {
    return null; // a low-order point from a hostile sender: OpenSSL refuses the derivation
  }
  return unwrap(x25519Kek(shared, ephemeral, own.publicKey, fileId), env, fileId);
}

function x25519Kek(shared: Uint8Array, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array, fileId: Uint8Array): Buffer {
  const salt = Buffer.concat([ephemeralPublic, recipientPublic]);
  const info = Buffer.concat([Buffer.from('p2pfx/1 x25519 kek', 'ascii'), fileId]);
  return Buffer.from(hkdfSync('sha256', shared, salt, info, 32));
}

const scryptAsync = promisify(scrypt) as (password: string, salt: Uint8Array, keylen: number, options: object) => Promise<Buffer>;

/**
 * Key-encryption keys derived in this process, by salt, parameters and password: a password
 * costs one scrypt (~32 MiB, ~0.4 s) per process and salt, not one per file. A process wraps
 * every key it wraps under one password with one salt (`saltFor`), so one send to many peers, a
 * folder, or a UI session's sends derive once, and a listing of what one such run sent opens
 * with one derivation. Bounded; failures are not kept.
 */
const kekCache = new Map<string, Promise<Buffer>>();
const saltCache = new Map<string, Buffer>();
const MAX_CACHED_KEKS = 32;
let derivations = 0;

/** How many scrypt derivations this process ran (for tests and diagnostics). */
export function scryptDerivations(): number {
  return derivations;
}

/** Drops every key derived in this process (a test stands for a fresh process this way). */
export function forgetDerivedKeys(): void {
  kekCache.clear();
  saltCache.clear();
}

function passwordKey(password: string, params: ScryptParams): string {
  return `${params.N}:${params.r}:${params.p}:${createHash('sha256').update(password.normalize('NFC')).digest('base64')}`;
}

/** This process's salt for a password (random, made at its first use). */
function saltFor(password: string, params: ScryptParams): Buffer {
  const key = passwordKey(password, params);
  let salt = saltCache.get(key);
  if (!salt) {
    if (saltCache.size >= MAX_CACHED_KEKS) saltCache.delete(saltCache.keys().next().value!);
    saltCache.set(key, (salt = randomBytes(16)));
  }
  return salt;
}

/** Runs on libuv's thread pool, so a server or UI stays responsive while it works. */
function scryptKek(password: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const key = `${Buffer.from(salt).toString('base64')}:${passwordKey(password, params)}`;
  const cached = kekCache.get(key);
  if (cached) return cached;
  if (kekCache.size >= MAX_CACHED_KEKS) kekCache.delete(kekCache.keys().next().value!);
  const maxmem = 128 * params.N * params.r * params.p + 16 * MiB;
  derivations++;
  const kek = scryptAsync(password.normalize('NFC'), salt, 32, { N: params.N, r: params.r, p: params.p, maxmem });
  kekCache.set(key, kek);
  kek.catch(() => kekCache.delete(key));
  return kek;
}

function checkScryptParams(params: ScryptParams): void {
  const log2 = typeof params.N === 'number' ? Math.log2(params.N) : NaN;
  if (!Number.isInteger(log2) || log2 < 10 || log2 > SCRYPT_MAX_LOG2N
    || 128 * params.N * params.r * params.p > SCRYPT_MAX_MEMORY_BYTES
    || !Number.isInteger(params.r) || params.r < 1 || params.r > SCRYPT_MAX_R
    || !Number.isInteger(params.p) || params.p < 1 || params.p > SCRYPT_MAX_P) {
    throw new P2pfxError('BAD_MANIFEST', `scrypt parameters out of bounds (N=${params.N}, r=${params.r}, p=${params.p})`);
  }
}

function wrapAad(fileId: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(WRAP_LABEL, 'ascii'), fileId]);
}

function wrap(kek: Uint8Array, dataKey: Uint8Array, fileId: Uint8Array): { nonce: string; wrapped: string } {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(wrapAad(fileId));
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  return { nonce: nonce.toString('base64'), wrapped: wrapped.toString('base64') };
}

function unwrap(kek: Uint8Array, env: { nonce: string; wrapped: string }, fileId: Uint8Array): Buffer | null {
  const nonce = Buffer.from(env.nonce, 'base64');
  const wrapped = Buffer.from(env.wrapped, 'base64');
  if (nonce.length !== 12 || wrapped.length !== 32 + 16) return null;
  const decipher = createDecipheriv('aes-256-gcm', kek, nonce);
  decipher.setAAD(wrapAad(fileId));
  decipher.setAuthTag(wrapped.subarray(32));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(0, 32)), decipher.final()]);
  } catch {
    return null;
  }
}
