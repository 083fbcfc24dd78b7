// Key envelopes (DESIGN "Formats > Key envelopes"): password (scrypt) and x25519, both bound to the file id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  generateX25519, rawX25519, SCRYPT_DEFAULT, scryptDerivations, unwrapForNode, unwrapWithPassword, wrapForNode, wrapWithPassword,
  x25519PublicFromRaw, type PasswordEnvelope, type ScryptParams, type X25519Envelope,
} from '../src/core/envelope.js';
import { P2pfxError, type ErrorCode } from '../src/core/errors.js';

/** Small scrypt cost for speed; the one test with SCRYPT_DEFAULT shows the real cost works. */
const FAST: ScryptParams = { N: 1024, r: 8, p: 1 };
const DATA_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xc0 ^ i));
const FILE_ID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const OTHER_FILE_ID = Buffer.from('00112233445566778899aabbccddeefe', 'hex');

function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof P2pfxError, `expected a P2pfxError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

function tamperBase64(b64: string, byte: number): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[byte] = (bytes[byte] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

// --- password ---

test('password envelope: round trip returns the data key', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'correct horse battery staple', FAST);
  assert.deepEqual(await unwrapWithPassword(env, FILE_ID, 'correct horse battery staple'), DATA_KEY);
});

test('password envelope: records its parameters, a 16-byte salt, a 12-byte nonce and key ‖ tag', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST);
  assert.equal(env.type, 'password');
  assert.equal(env.kdf, 'scrypt');
  assert.deepEqual({ N: env.N, r: env.r, p: env.p }, FAST);
  assert.equal(Buffer.from(env.salt, 'base64').length, 16);
  assert.equal(Buffer.from(env.nonce, 'base64').length, 12);
  assert.equal(Buffer.from(env.wrapped, 'base64').length, 32 + 16);
  assert.ok(!Buffer.from(env.wrapped, 'base64').includes(DATA_KEY), 'the data key is not in the clear');
});

test('password envelope: one derivation per password and salt in a process; two wraps still differ (fresh nonce), other passwords get other salts', async () => {
  const before = scryptDerivations();
  const a = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw-once', FAST);
  const b = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw-once', FAST);
  assert.equal(a.salt, b.salt, 'one salt per password in a process: its key-encryption key is derived once');
  assert.notEqual(a.nonce, b.nonce);
  assert.notEqual(a.wrapped, b.wrapped);
  assert.equal(scryptDerivations() - before, 1);
  assert.deepEqual(await unwrapWithPassword(a, FILE_ID, 'pw-once'), DATA_KEY);
  assert.equal(scryptDerivations() - before, 1, 'opening reuses the key derived for wrapping');
  const c = await wrapWithPassword(DATA_KEY, FILE_ID, 'another', FAST);
  assert.notEqual(c.salt, a.salt);
  assert.equal(scryptDerivations() - before, 2);
  await assert.rejects(unwrapWithPassword(a, FILE_ID, 'wrong'), { code: 'WRONG_PASSWORD' });
  assert.equal(scryptDerivations() - before, 3, 'a wrong password is one derivation, like any other');
});

test('password envelope: NFC and NFD spellings of the same password both open it', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'caf\u00e9', FAST);
  assert.deepEqual(await unwrapWithPassword(env, FILE_ID, 'cafe\u0301'), DATA_KEY);
});

test('password envelope: the default parameters (N=2^15, r=8, p=3) work', async () => {
  assert.deepEqual(SCRYPT_DEFAULT, { N: 2 ** 15, r: 8, p: 3 });
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'default cost');
  assert.deepEqual([env.N, env.r, env.p], [2 ** 15, 8, 3]);
  assert.deepEqual(await unwrapWithPassword(env, FILE_ID, 'default cost'), DATA_KEY);
});

test('password envelope: one made with the earlier default (N=2^17, r=8, p=1) still opens, and not with a wrong password', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'older default', { N: 2 ** 17, r: 8, p: 1 });
  assert.deepEqual([env.N, env.r, env.p], [2 ** 17, 8, 1]);
  assert.deepEqual(await unwrapWithPassword(env, FILE_ID, 'older default'), DATA_KEY);
  await assert.rejects(unwrapWithPassword(env, FILE_ID, 'older defaulT'), hasCode('WRONG_PASSWORD'));
});

test('password envelope: a wrong password gives WRONG_PASSWORD', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'right', FAST);
  await assert.rejects(unwrapWithPassword(env, FILE_ID, 'wrong'), hasCode('WRONG_PASSWORD'));
  await assert.rejects(unwrapWithPassword(env, FILE_ID, ''), hasCode('WRONG_PASSWORD'));
});

test('password envelope: moved to another file id gives WRONG_PASSWORD', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST);
  await assert.rejects(unwrapWithPassword(env, OTHER_FILE_ID, 'pw'), hasCode('WRONG_PASSWORD'));
});

test('password envelope: tampered wrapped bytes, nonce or salt give WRONG_PASSWORD', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST);
  for (const field of ['wrapped', 'nonce', 'salt'] as const) {
    const tampered: PasswordEnvelope = { ...env, [field]: tamperBase64(env[field], 0) };
    await assert.rejects(unwrapWithPassword(tampered, FILE_ID, 'pw'), hasCode('WRONG_PASSWORD'), field);
  }
  const truncated: PasswordEnvelope = { ...env, wrapped: Buffer.from(env.wrapped, 'base64').subarray(0, 47).toString('base64') };
  await assert.rejects(unwrapWithPassword(truncated, FILE_ID, 'pw'), hasCode('WRONG_PASSWORD'));
});

test('password envelope: other scrypt parameters than those used give WRONG_PASSWORD', async () => {
  const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST);
  await assert.rejects(unwrapWithPassword({ ...env, N: 2048 }, FILE_ID, 'pw'), hasCode('WRONG_PASSWORD'));
});

const HOSTILE_PARAMS: Array<[string, ScryptParams]> = [
  ['N not a power of two', { N: 1000, r: 8, p: 1 }],
  ['N = 2^21', { N: 2 ** 21, r: 8, p: 1 }],
  ['N = 2^30', { N: 2 ** 30, r: 8, p: 1 }],
  ['N below 2^10', { N: 512, r: 8, p: 1 }],
  ['N = 0', { N: 0, r: 8, p: 1 }],
  ['N negative', { N: -1024, r: 8, p: 1 }],
  ['N = Infinity', { N: Number.POSITIVE_INFINITY, r: 8, p: 1 }],
  ['r = 64', { N: 1024, r: 64, p: 1 }],
  ['r = 0', { N: 1024, r: 0, p: 1 }],
  ['r fractional', { N: 1024, r: 1.5, p: 1 }],
  ['p = 0', { N: 1024, r: 8, p: 0 }],
  ['p = 5', { N: 1024, r: 8, p: 5 }],
];

for (const [what, params] of HOSTILE_PARAMS) {
  test(`password envelope: hostile scrypt parameters (${what}) give BAD_MANIFEST before any work`, async () => {
    const env = await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST);
    const before = scryptDerivations();
    await assert.rejects(unwrapWithPassword({ ...env, ...params }, FILE_ID, 'pw'), hasCode('BAD_MANIFEST'));
    // Refused by the bounds check, not after running scrypt (2^21 × r=8 would need 2 GiB and seconds).
    assert.equal(scryptDerivations(), before, 'no derivation was started');
  });
}

// --- x25519 ---

test('x25519 envelope: wrapForNode / unwrapForNode round trip returns the data key', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'NODE-ID', node.publicKey);
  assert.equal(env.type, 'x25519');
  assert.equal(env.recipient, 'NODE-ID');
  assert.equal(Buffer.from(env.ephemeral, 'base64').length, 32);
  assert.equal(Buffer.from(env.wrapped, 'base64').length, 48);
  assert.deepEqual(unwrapForNode(env, FILE_ID, node), DATA_KEY);
});

test('x25519 envelope: each wrap uses a fresh ephemeral key', () => {
  const node = generateX25519();
  const a = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  const b = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  assert.notEqual(a.ephemeral, b.ephemeral);
  assert.notEqual(a.wrapped, b.wrapped);
});

test('x25519 envelope: another node\'s key pair gets null', () => {
  const node = generateX25519();
  const other = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  assert.equal(unwrapForNode(env, FILE_ID, other), null);
});

test('x25519 envelope: tampered wrapped bytes (key part or tag) get null', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  assert.equal(unwrapForNode({ ...env, wrapped: tamperBase64(env.wrapped, 0) }, FILE_ID, node), null);
  assert.equal(unwrapForNode({ ...env, wrapped: tamperBase64(env.wrapped, 47) }, FILE_ID, node), null);
  assert.equal(unwrapForNode({ ...env, nonce: tamperBase64(env.nonce, 11) }, FILE_ID, node), null);
  const short = Buffer.from(env.wrapped, 'base64').subarray(0, 40).toString('base64');
  assert.equal(unwrapForNode({ ...env, wrapped: short }, FILE_ID, node), null);
});

test('x25519 envelope: a different (valid, 32-byte) ephemeral key gets null', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  const swapped: X25519Envelope = { ...env, ephemeral: generateX25519().publicKey.toString('base64') };
  assert.equal(unwrapForNode(swapped, FILE_ID, node), null);
});

test('x25519 envelope: a different file id gets null', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  assert.equal(unwrapForNode(env, OTHER_FILE_ID, node), null);
});

// A manifest's `ephemeral` is any base64, so a hostile sender can send a low-order point (all
// zeros, or u = 1), for which OpenSSL refuses the derivation.
test('x25519 envelope: a low-order ephemeral point gets null or BAD_MANIFEST, never a raw OpenSSL error', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  const lowOrder = [Buffer.alloc(32), Buffer.from(`01${'00'.repeat(31)}`, 'hex')];
  for (const point of lowOrder) {
    const hostile: X25519Envelope = { ...env, ephemeral: point.toString('base64') };
    let result: Buffer | null | undefined;
    try {
      result = unwrapForNode(hostile, FILE_ID, node);
    } catch (err) {
      assert.ok(err instanceof P2pfxError && err.code === 'BAD_MANIFEST', `threw ${String(err)}`);
      continue;
    }
    assert.equal(result, null);
  }
});

test('x25519 envelope: an ephemeral key that is not 32 bytes does not open (null)', () => {
  const node = generateX25519();
  const env = wrapForNode(DATA_KEY, FILE_ID, 'n', node.publicKey);
  const short: X25519Envelope = { ...env, ephemeral: Buffer.alloc(31, 9).toString('base64') };
  assert.equal(unwrapForNode(short, FILE_ID, node), null);
});

test('rawX25519 / x25519PublicFromRaw round trip a public key through its 32 raw bytes', () => {
  const { publicKey } = generateKeyPairSync('x25519');
  const raw = rawX25519(publicKey);
  assert.equal(raw.length, 32);
  const back = x25519PublicFromRaw(raw);
  assert.equal(back.asymmetricKeyType, 'x25519');
  assert.ok(back.equals(publicKey));
  assert.deepEqual(rawX25519(back), raw);
});

test('generateX25519 returns the raw form of its own private key\'s public key', () => {
  const pair = generateX25519();
  assert.equal(pair.publicKey.length, 32);
  assert.equal(pair.privateKey.asymmetricKeyType, 'x25519');
  assert.deepEqual(rawX25519(createPublicKey(pair.privateKey)), pair.publicKey);
});

test('x25519PublicFromRaw refuses a 31- or 33-byte key with BAD_MANIFEST', () => {
  assert.throws(() => x25519PublicFromRaw(randomBytes(31)), hasCode('BAD_MANIFEST'));
  assert.throws(() => x25519PublicFromRaw(randomBytes(33)), hasCode('BAD_MANIFEST'));
  assert.throws(() => x25519PublicFromRaw(new Uint8Array(0)), hasCode('BAD_MANIFEST'));
});

test('wrapForNode refuses a recipient public key that is not 32 bytes with BAD_MANIFEST', () => {
  assert.throws(() => wrapForNode(DATA_KEY, FILE_ID, 'n', randomBytes(31)), hasCode('BAD_MANIFEST'));
});
