// Manifest v1 (DESIGN "Formats > Manifest") and the canonical JSON its signature covers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, verify, X509Certificate } from 'node:crypto';
import { canonicalJson } from '../src/core/canonical-json.js';
import { chunkId, sealChunk } from '../src/core/chunk.js';
import { generateX25519, wrapForNode, wrapWithPassword } from '../src/core/envelope.js';
import { P2pfxError, type ErrorCode } from '../src/core/errors.js';
import { BLOB_OVERHEAD_BYTES, MAX_BLOB_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from '../src/core/limits.js';
import {
  checkFileName, openMetadata, parseManifest, plaintextBytes, sealMetadata, signManifest, verifyManifestSignature,
  type ChunkRef, type FileMetadata, type Manifest, type UnsignedManifest,
} from '../src/core/manifest.js';
import { createCa } from '../src/pki/ca.js';
import { nodeIdFromCertPem } from '../src/pki/node-id.js';

function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof P2pfxError, `expected a P2pfxError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}
const isBadManifest = hasCode('BAD_MANIFEST');

// =============================== canonicalJson ===============================

test('canonicalJson: sorts object keys and writes no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: 2, c: 'x' }), '{"a":2,"b":1,"c":"x"}');
  assert.equal(canonicalJson({ aa: 1, 'a b': 2, a: 3, B: 4 }), '{"B":4,"a":3,"a b":2,"aa":1}');
});

test('canonicalJson: sorts nested objects, keeps array order', () => {
  const value = { z: { y: [3, { b: true, a: null }, 'q'], x: 's' }, a: [], m: {} };
  assert.equal(canonicalJson(value), '{"a":[],"m":{},"z":{"x":"s","y":[3,{"a":null,"b":true},"q"]}}');
  assert.equal(canonicalJson([{ b: 2, a: 1 }, [2, 1], false]), '[{"a":1,"b":2},[2,1],false]');
});

test('canonicalJson: scalars at the top level', () => {
  assert.equal(canonicalJson(null), 'null');
  assert.equal(canonicalJson(true), 'true');
  assert.equal(canonicalJson(0), '0');
  assert.equal(canonicalJson(-0), '0');
  assert.equal(canonicalJson(-42), '-42');
  assert.equal(canonicalJson(Number.MAX_SAFE_INTEGER), '9007199254740991');
  assert.equal(canonicalJson(''), '""');
});

test('canonicalJson: unicode strings are written as UTF-16 JSON.stringify does (raw, escapes for controls and lone surrogates)', () => {
  assert.equal(canonicalJson({ name: 'résumé 😀' }), '{"name":"résumé 😀"}');
  assert.equal(canonicalJson('\u0001\n\t"\\'), String.raw`"\u0001\n\t\"\\"`);
  assert.equal(canonicalJson('\u2028\u007f'), '"\u2028\u007f"');
  assert.equal(canonicalJson('\ud800'), String.raw`"\ud800"`);
});

test('canonicalJson: keys sort by UTF-16 code unit, not code point (😀 before U+FFFF)', () => {
  const value = { '\uffff': 5, '😀': 4, 'é': 3, z: 2, Z: 1 };
  assert.equal(canonicalJson(value), '{"Z":1,"z":2,"é":3,"😀":4,"\uffff":5}');
});

test('canonicalJson: the same data with keys in another order gives the same text', () => {
  assert.equal(canonicalJson({ a: 1, b: { c: 2, d: 3 } }), canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
});

test('canonicalJson: properties set to undefined are left out, as JSON.stringify does', () => {
  assert.equal(canonicalJson({ a: 1, b: undefined }), '{"a":1}');
});

test('canonicalJson: rejects non-integers, unsafe integers, NaN and infinities', () => {
  for (const n of [1.5, -0.1, 2 ** 53, -(2 ** 53), Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    assert.throws(() => canonicalJson(n), TypeError, String(n));
    assert.throws(() => canonicalJson({ x: [n] }), TypeError, `nested ${n}`);
  }
});

test('canonicalJson: rejects undefined at the top or in an array, functions, bigints and symbols', () => {
  assert.throws(() => canonicalJson(undefined), TypeError);
  assert.throws(() => canonicalJson([1, undefined]), TypeError);
  assert.throws(() => canonicalJson(() => 1), TypeError);
  assert.throws(() => canonicalJson({ f: () => 1 }), TypeError);
  assert.throws(() => canonicalJson(1n), TypeError);
  assert.throws(() => canonicalJson(Symbol('s')), TypeError);
});

test('canonicalJson: its output parses back to the same data', () => {
  const value = { list: [1, 'two', { three: [true, null] }], 'ключ': 'значение', n: -7 };
  assert.deepEqual(JSON.parse(canonicalJson(value)), value);
});

// =============================== a real signed manifest ===============================

const CHUNK_SIZE = MIN_CHUNK_BYTES; // 4 KiB: small chunks keep the fixture small
const FULL_BLOB = CHUNK_SIZE + BLOB_OVERHEAD_BYTES;
const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

const ca = await createCa({ commonName: 'manifest test node' });
const otherCa = await createCa({ commonName: 'another node' });
const SENDER_ID = nodeIdFromCertPem(ca.certPem);

const DATA_KEY = randomBytes(32);
const FILE_ID = randomBytes(16);
const NONCE_PREFIX = randomBytes(8);
const PLAINTEXT = randomBytes(2 * CHUNK_SIZE + 1808);
const META: FileMetadata = {
  name: 'résumé.pdf', size: PLAINTEXT.length, mtimeMs: 1_700_000_000_123,
  sha256: createHash('sha256').update(PLAINTEXT).digest('hex'),
};

function sealFile(plaintext: Buffer): { refs: ChunkRef[]; total: number } {
  const count = Math.max(1, Math.ceil(plaintext.length / CHUNK_SIZE));
  const refs: ChunkRef[] = [];
  let total = 0;
  for (let index = 0; index < count; index++) {
    const piece = plaintext.subarray(index * CHUNK_SIZE, (index + 1) * CHUNK_SIZE);
    const blob = sealChunk(DATA_KEY, NONCE_PREFIX, { fileId: FILE_ID, index, last: index === count - 1 }, piece);
    refs.push({ index, id: chunkId(blob), size: blob.length });
    total += blob.length;
  }
  return { refs, total };
}

const SEALED = sealFile(PLAINTEXT);
const UNSIGNED: UnsignedManifest = {
  version: 1,
  fileId: FILE_ID.toString('hex'),
  chunkSize: CHUNK_SIZE,
  chunkCount: SEALED.refs.length,
  totalBytes: SEALED.total,
  chunks: SEALED.refs,
  envelopes: [
    await wrapWithPassword(DATA_KEY, FILE_ID, 'pw', FAST_SCRYPT),
    wrapForNode(DATA_KEY, FILE_ID, SENDER_ID, generateX25519().publicKey),
  ],
  metadata: sealMetadata(META, DATA_KEY, FILE_ID),
  createdAt: '2025-01-02T03:04:05.678Z',
  sender: { nodeId: SENDER_ID, certPem: ca.certPem },
};
/** As a peer receives it: through JSON text. */
const SIGNED: Manifest = JSON.parse(JSON.stringify(signManifest(UNSIGNED, ca.keyPem))) as Manifest;

/** A copy changed after signing: the signature no longer covers it. */
function tampered(change: (m: Manifest) => void): Manifest {
  const m = structuredClone(SIGNED);
  change(m);
  return m;
}

/** A copy changed and then signed properly: only the consistency checks can catch it. */
function resigned(change: (m: UnsignedManifest) => void): Manifest {
  const m = structuredClone(UNSIGNED);
  change(m);
  return JSON.parse(JSON.stringify(signManifest(m, ca.keyPem))) as Manifest;
}

/** Plain JSON data to poke at without the type system in the way. */
function loose(m: Manifest): Record<string, unknown> {
  return structuredClone(m) as unknown as Record<string, unknown>;
}

test('fixture: 3 chunks of 4 KiB + 29, the last shorter, sizes adding up to totalBytes', () => {
  assert.equal(SIGNED.chunkCount, 3);
  assert.deepEqual(SIGNED.chunks.map((c) => c.size), [FULL_BLOB, FULL_BLOB, 1808 + BLOB_OVERHEAD_BYTES]);
  assert.equal(SIGNED.totalBytes, 2 * FULL_BLOB + 1808 + BLOB_OVERHEAD_BYTES);
});

test('parseManifest accepts a real signed manifest and returns it unchanged', () => {
  const input = structuredClone(SIGNED);
  const parsed = parseManifest(input);
  assert.deepEqual(parsed, SIGNED);
});

test('verifyManifestSignature accepts the real signed manifest', () => {
  assert.doesNotThrow(() => verifyManifestSignature(parseManifest(structuredClone(SIGNED))));
});

test('the signature is ECDSA P-256 / SHA-256 (IEEE P1363) over the canonical JSON of everything but the signature', () => {
  const { signature, ...unsigned } = SIGNED;
  const raw = Buffer.from(signature, 'base64');
  assert.equal(raw.length, 64);
  const publicKey = new X509Certificate(SIGNED.sender.certPem).publicKey;
  const ok = verify('sha256', Buffer.from(canonicalJson(unsigned)), { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw);
  assert.equal(ok, true);
});

test('the signature does not depend on property order: a reordered manifest still verifies', () => {
  const reversed = Object.fromEntries(Object.entries(structuredClone(SIGNED)).reverse()) as unknown as Manifest;
  reversed.chunks = reversed.chunks.map((c) => ({ size: c.size, id: c.id, index: c.index }));
  assert.doesNotThrow(() => verifyManifestSignature(parseManifest(reversed)));
});

test('parseManifest accepts an empty file: one chunk of 29 bytes', () => {
  const m = resigned((u) => {
    u.chunkCount = 1;
    u.chunks = [{ index: 0, id: 'ab'.repeat(32), size: BLOB_OVERHEAD_BYTES }];
    u.totalBytes = BLOB_OVERHEAD_BYTES;
  });
  assert.doesNotThrow(() => parseManifest(m));
  assert.equal(plaintextBytes(m), 0);
});

test('parseManifest accepts a last chunk of exactly chunkSize + 29', () => {
  const m = resigned((u) => {
    const last = u.chunks[2];
    assert.ok(last);
    u.totalBytes += FULL_BLOB - last.size;
    last.size = FULL_BLOB;
  });
  assert.doesNotThrow(() => parseManifest(m));
});

// --- changed after signing: the shape holds, the signature does not ---

const TAMPERINGS: Array<[string, (m: Manifest) => void]> = [
  ['a chunk id', (m) => { m.chunks[1]!.id = 'f'.repeat(64); }],
  ['the last chunk size (and totalBytes with it)', (m) => { m.chunks[2]!.size -= 1; m.totalBytes -= 1; }],
  ['the file id', (m) => { m.fileId = '0'.repeat(32); }],
  ['an envelope (password salt)', (m) => {
    const env = m.envelopes[0];
    assert.ok(env?.type === 'password');
    env.salt = Buffer.alloc(16, 7).toString('base64');
  }],
  ['an envelope list (one removed)', (m) => { m.envelopes.pop(); }],
  ['the metadata block', (m) => { m.metadata.nonce = Buffer.alloc(12).toString('base64'); }],
  ['createdAt', (m) => { m.createdAt = '2025-01-02T03:04:06.678Z'; }],
  ['the sender node id', (m) => { m.sender.nodeId = 'SOMEONE-ELSE'; }],
];

for (const [what, change] of TAMPERINGS) {
  test(`verifyManifestSignature rejects with BAD_MANIFEST when ${what} is changed after signing`, () => {
    const m = tampered(change);
    assert.doesNotThrow(() => parseManifest(m), 'the shape still holds; only the signature can catch this');
    assert.throws(() => verifyManifestSignature(m), isBadManifest);
  });
}

test('verifyManifestSignature rejects a manifest signed by another key than its certificate\'s', () => {
  const m = JSON.parse(JSON.stringify(signManifest(UNSIGNED, otherCa.keyPem))) as Manifest;
  assert.throws(() => verifyManifestSignature(parseManifest(m)), isBadManifest);
});

test('verifyManifestSignature rejects a signature that is altered, truncated or empty', () => {
  const sig = Buffer.from(SIGNED.signature, 'base64');
  const flipped = Buffer.from(sig);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  for (const signature of [flipped.toString('base64'), sig.subarray(0, 63).toString('base64'), '']) {
    assert.throws(() => verifyManifestSignature(tampered((m) => { m.signature = signature; })), isBadManifest);
  }
});

test('verifyManifestSignature rejects an unreadable sender certificate with BAD_MANIFEST', () => {
  const m = tampered((x) => { x.sender.certPem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'; });
  assert.throws(() => verifyManifestSignature(m), isBadManifest);
  assert.throws(() => verifyManifestSignature(tampered((x) => { x.sender.certPem = ''; })), isBadManifest);
});

// A self-signed Ed25519 certificate (openssl req -x509 -newkey ed25519), as a hostile sender could present.
const ED25519_CERT = `-----BEGIN CERTIFICATE-----
MIIBRDCB96ADAgECAhQCLQQQ04t57LjT6M0E4SSHoubb8zAFBgMrZXAwFzEVMBMG
A1UEAwwMZWQyNTUxOS10ZXN0MCAXDTI2MTEyNTE0NDIwNFoYDzIxMjYxMTAxMTQ0
MjA0WjAXMRUwEwYDVQQDDAxlZDI1NTE5LXRlc3QwKjAFBgMrZXADIQAUjoEfPiZM
jtLaRSqCnWX2FE8uHaJDSJ5MBy60NEd2naNTMFEwHQYDVR0OBBYEFJuiIVKcPwhx
/IoLEQCbdBeO4hvEMB8GA1UdIwQYMBaAFJuiIVKcPwhx/IoLEQCbdBeO4hvEMA8G
A1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EAS/hPiJ9ZKIbnvXZ4QonHT5rTTTtaAxHV
n9bI6G4ajb9mV/jJqu3RvZTJ4YDbYro9tGMBFapmP+PAzZwdE9x5BQ==
-----END CERTIFICATE-----
`;

// verify('sha256', …) with an Ed25519 key would throw ERR_OSSL_INVALID_DIGEST.
test('verifyManifestSignature rejects a sender certificate with a non-ECDSA key with BAD_MANIFEST', () => {
  const m = tampered((x) => { x.sender.certPem = ED25519_CERT; });
  assert.throws(() => verifyManifestSignature(m), isBadManifest);
});

// --- signed properly, but inconsistent: parseManifest must catch it ---

const INCONSISTENCIES: Array<[string, (u: UnsignedManifest) => void]> = [
  ['chunkCount is one more than the chunks listed', (u) => { u.chunkCount += 1; }],
  ['chunkCount is one less than the chunks listed', (u) => { u.chunkCount -= 1; }],
  ['the indices have a gap (0, 2, 3)', (u) => { u.chunks[1]!.index = 2; u.chunks[2]!.index = 3; }],
  ['two chunks are out of order', (u) => {
    const [a, b] = [u.chunks[0]!, u.chunks[1]!];
    u.chunks[0] = b;
    u.chunks[1] = a;
  }],
  ['one chunk id is listed at two indices', (u) => { u.chunks[1]!.id = u.chunks[0]!.id; }],
  ['a non-last chunk is smaller than chunkSize + 29', (u) => { u.chunks[0]!.size -= 1; u.totalBytes -= 1; }],
  ['a non-last chunk is bigger than chunkSize + 29', (u) => { u.chunks[1]!.size += 1; u.totalBytes += 1; }],
  ['the last chunk is bigger than chunkSize + 29', (u) => {
    const last = u.chunks[2]!;
    u.totalBytes += FULL_BLOB + 1 - last.size;
    last.size = FULL_BLOB + 1;
  }],
  ['totalBytes is one more than the sum of chunk sizes', (u) => { u.totalBytes += 1; }],
  ['totalBytes is one less than the sum of chunk sizes', (u) => { u.totalBytes -= 1; }],
  ['chunkSize disagrees with the chunk sizes', (u) => { u.chunkSize += 1; }],
];

for (const [what, change] of INCONSISTENCIES) {
  test(`parseManifest rejects with BAD_MANIFEST a validly signed manifest where ${what}`, () => {
    const m = resigned(change);
    assert.doesNotThrow(() => verifyManifestSignature(m), 'the signature holds; only the consistency checks can catch this');
    assert.throws(() => parseManifest(m), isBadManifest);
  });
}

// --- schema ---

const REQUIRED = ['version', 'fileId', 'chunkSize', 'chunkCount', 'totalBytes', 'chunks', 'envelopes', 'metadata', 'createdAt', 'sender', 'signature'];

for (const key of REQUIRED) {
  test(`parseManifest rejects a manifest missing "${key}"`, () => {
    const m = loose(SIGNED);
    delete m[key];
    assert.throws(() => parseManifest(m), isBadManifest);
  });
}

test('parseManifest rejects an extra property at the top level, in a chunk, in an envelope, in metadata, in sender', () => {
  const places: Array<(m: Record<string, unknown>) => void> = [
    (m) => { m.extra = 1; },
    (m) => { (m.chunks as Array<Record<string, unknown>>)[0]!.extra = 1; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.extra = 1; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[1]!.extra = 1; },
    (m) => { (m.metadata as Record<string, unknown>).extra = 1; },
    (m) => { (m.sender as Record<string, unknown>).extra = 1; },
  ];
  for (const [i, add] of places.entries()) {
    const m = JSON.parse(JSON.stringify(SIGNED)) as Record<string, unknown>;
    add(m);
    assert.throws(() => parseManifest(m), isBadManifest, `place ${i}`);
  }
});

test('parseManifest rejects a "__proto__" key coming from JSON text', () => {
  const text = JSON.stringify(SIGNED).replace(/^\{/, '{"__proto__":{"polluted":true},');
  assert.throws(() => parseManifest(JSON.parse(text)), isBadManifest);
});

test('parseManifest reads versions 1, 2 and 3 (a packed folder), and rejects 4, "1", "2" and 0', () => {
  for (const version of [1, 2, 3]) {
    const m = loose(SIGNED);
    m.version = version;
    assert.equal(parseManifest(m).version, version);
  }
  for (const version of [4, '1', '2', 0]) {
    const m = loose(SIGNED);
    m.version = version;
    assert.throws(() => parseManifest(m), isBadManifest, String(version));
  }
});

test('a packed folder\'s manifest (v3): chunks of any size up to the chunk size, indexes unique but not positions', () => {
  const m = loose(SIGNED);
  m.version = 3;
  const chunks = m.chunks as Array<{ index: number; id: string; size: number }>;
  chunks.reverse().forEach((c, i) => { c.index = 1000 - i; });
  assert.equal(parseManifest(m).chunks[0]!.index, 1000, 'indexes kept, in any order');
  const twice = structuredClone(m);
  (twice.chunks as Array<{ index: number }>)[1]!.index = 1000;
  assert.throws(() => parseManifest(twice), (e: unknown) => isBadManifest(e) && /index 1000 is listed twice/.test((e as Error).message));
  const big = structuredClone(m);
  const first = (big.chunks as Array<{ size: number }>)[0]!;
  const grown = (big.chunkSize as number) + 30;
  big.totalBytes = (big.totalBytes as number) + grown - first.size;
  first.size = grown;
  assert.throws(() => parseManifest(big), isBadManifest);
  const v2 = structuredClone(m);
  v2.version = 2;
  assert.throws(() => parseManifest(v2), (e: unknown) => isBadManifest(e) && /has index/.test((e as Error).message), 'a file\'s chunks stay at their positions');
});

test('parseManifest rejects a chunkSize below 4 KiB, above 16 MiB, or not an integer', () => {
  for (const chunkSize of [MIN_CHUNK_BYTES - 1, 0, MAX_CHUNK_BYTES + 1]) {
    assert.throws(() => parseManifest(resigned((u) => { u.chunkSize = chunkSize; })), isBadManifest, String(chunkSize));
  }
  // A fraction cannot even be signed (canonical JSON takes integers only), so it can only arrive unsigned.
  assert.throws(() => signManifest({ ...UNSIGNED, chunkSize: CHUNK_SIZE + 0.5 }, ca.keyPem), TypeError);
  const fractional = loose(SIGNED);
  fractional.chunkSize = CHUNK_SIZE + 0.5;
  assert.throws(() => parseManifest(fractional), isBadManifest);
});

test('parseManifest rejects a chunk size below 29 or above the blob cap', () => {
  for (const size of [BLOB_OVERHEAD_BYTES - 1, MAX_BLOB_BYTES + 1]) {
    const m = resigned((u) => {
      const last = u.chunks[2]!;
      u.totalBytes += size - last.size;
      last.size = size;
    });
    assert.throws(() => parseManifest(m), isBadManifest, String(size));
  }
});

test('parseManifest rejects ids that are not lowercase hex of the right length', () => {
  const changes: Array<(u: UnsignedManifest) => void> = [
    (u) => { u.fileId = u.fileId.toUpperCase(); },
    (u) => { u.fileId = u.fileId.slice(1); },
    (u) => { u.fileId = '../../etc/passwd'; },
    (u) => { u.chunks[0]!.id = u.chunks[0]!.id.toUpperCase(); },
    (u) => { u.chunks[0]!.id = `${u.chunks[0]!.id}0`; },
  ];
  for (const [i, change] of changes.entries()) assert.throws(() => parseManifest(resigned(change)), isBadManifest, `change ${i}`);
});

test('parseManifest rejects no envelopes, an unknown envelope type, and scrypt parameters out of bounds', () => {
  const changes: Array<(m: Record<string, unknown>) => void> = [
    (m) => { m.envelopes = []; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.type = 'plain'; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.N = 2 ** 21; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.r = 64; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.p = 0; },
    (m) => { (m.envelopes as Array<Record<string, unknown>>)[0]!.N = '1024'; },
    (m) => { m.envelopes = Array.from({ length: 65 }, () => SIGNED.envelopes[1]); },
  ];
  for (const [i, change] of changes.entries()) {
    const m = loose(SIGNED);
    change(m);
    assert.throws(() => parseManifest(m), isBadManifest, `change ${i}`);
  }
});

test('parseManifest rejects a createdAt that is not an ISO date-time', () => {
  for (const createdAt of ['yesterday', '2025-01-02', '2025-13-40T00:00:00Z', '', 1735787045678]) {
    const m = loose(SIGNED);
    m.createdAt = createdAt;
    assert.throws(() => parseManifest(m), isBadManifest, String(createdAt));
  }
});

test('parseManifest rejects input that is not an object: null, array, string, number, boolean, undefined', () => {
  for (const input of [null, [], [SIGNED], 'manifest', JSON.stringify(SIGNED), 1, true, undefined]) {
    assert.throws(() => parseManifest(input), isBadManifest, JSON.stringify(input)?.slice(0, 20));
  }
});

function deeplyNested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

test('parseManifest rejects a 100k-deep nested object with BAD_MANIFEST, without overflowing the stack', () => {
  const deep = deeplyNested(100_000);
  const placements: Array<[string, (m: Record<string, unknown>) => void]> = [
    ['as an extra property', (m) => { m.deep = deep; }],
    ['as metadata', (m) => { m.metadata = deep; }],
    ['inside metadata', (m) => { (m.metadata as Record<string, unknown>).deep = deep; }],
    ['as a chunk', (m) => { (m.chunks as unknown[])[0] = deep; }],
    ['as an envelope', (m) => { (m.envelopes as unknown[])[0] = deep; }],
    ['as the sender', (m) => { m.sender = deep; }],
    ['as the signature', (m) => { m.signature = deep; }],
  ];
  assert.throws(() => parseManifest(deep), isBadManifest, 'the whole input');
  for (const [where, place] of placements) {
    const m = loose(SIGNED);
    place(m);
    assert.throws(() => parseManifest(m), isBadManifest, where);
  }
});

test('parseManifest rejects a 100k-deep nested array inside chunks with BAD_MANIFEST', () => {
  let deep: unknown[] = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const m = loose(SIGNED);
  m.chunks = deep;
  assert.throws(() => parseManifest(m), isBadManifest);
});

test('parseManifest rejects 100k-deep nesting that arrives as JSON text', () => {
  const text = JSON.stringify(SIGNED).replace(/^\{/, `{"deep":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)},`);
  assert.throws(() => parseManifest(JSON.parse(text)), isBadManifest);
});

test('parseManifest rejects a chunks array beyond 4,000,000 items by the schema\'s maxItems', () => {
  const ref: ChunkRef = { index: 0, id: 'a'.repeat(64), size: BLOB_OVERHEAD_BYTES };
  const m = loose(SIGNED);
  m.chunks = new Array<ChunkRef>(4_000_001).fill(ref); // one shared object: cheap to build
  m.chunkCount = 4_000_001;
  m.totalBytes = 4_000_001 * BLOB_OVERHEAD_BYTES;
  assert.throws(() => parseManifest(m), (err: unknown) => {
    isBadManifest(err);
    assert.match((err as Error).message, /\/chunks .*4000000/);
    return true;
  });
});

// =============================== metadata ===============================

test('sealMetadata / openMetadata round trip', () => {
  const sealed = sealMetadata(META, DATA_KEY, FILE_ID);
  assert.deepEqual(openMetadata(sealed, DATA_KEY, FILE_ID, 1), META);
});

test('the manifest fixture\'s metadata opens with the data key', () => {
  assert.deepEqual(openMetadata(SIGNED.metadata, DATA_KEY, FILE_ID, 1), META);
});

test('sealed metadata hides the name: neither it nor its UTF-8 bytes appear in the block', () => {
  const sealed = sealMetadata({ ...META, name: 'secret-plans.txt' }, DATA_KEY, FILE_ID);
  assert.ok(!JSON.stringify(sealed).includes('secret'));
  assert.ok(!Buffer.from(sealed.sealed, 'base64').includes(Buffer.from('secret-plans')));
  assert.equal(Buffer.from(sealed.nonce, 'base64').length, 12);
});

test('openMetadata with a wrong key gives DECRYPT_FAILED', () => {
  const sealed = sealMetadata(META, DATA_KEY, FILE_ID);
  assert.throws(() => openMetadata(sealed, randomBytes(32), FILE_ID, 1), hasCode('DECRYPT_FAILED'));
});

test('openMetadata for another file id gives DECRYPT_FAILED', () => {
  const sealed = sealMetadata(META, DATA_KEY, FILE_ID);
  assert.throws(() => openMetadata(sealed, DATA_KEY, randomBytes(16), 1), hasCode('DECRYPT_FAILED'));
});

test('openMetadata of a tampered block gives DECRYPT_FAILED', () => {
  const sealed = sealMetadata(META, DATA_KEY, FILE_ID);
  const bytes = Buffer.from(sealed.sealed, 'base64');
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  assert.throws(() => openMetadata({ ...sealed, sealed: bytes.toString('base64') }, DATA_KEY, FILE_ID, 1), hasCode('DECRYPT_FAILED'));
});

test('openMetadata of a block too short or with a bad nonce gives BAD_MANIFEST', () => {
  const sealed = sealMetadata(META, DATA_KEY, FILE_ID);
  assert.throws(() => openMetadata({ ...sealed, sealed: Buffer.alloc(15).toString('base64') }, DATA_KEY, FILE_ID, 1), isBadManifest);
  assert.throws(() => openMetadata({ ...sealed, nonce: Buffer.alloc(11).toString('base64') }, DATA_KEY, FILE_ID, 1), isBadManifest);
});

test('openMetadata rejects with BAD_MANIFEST an authentic block holding an unsafe name or a wrong shape', () => {
  const bad: unknown[] = [
    { ...META, name: '../../.bashrc' },
    { ...META, name: 'a/b' },
    { ...META, name: '\x1b]0;pwned\x07' },
    { ...META, size: -1 },
    { ...META, size: 1.5 },
    { ...META, sha256: 'XYZ' },
    { ...META, mtimeMs: 'yesterday' },
    { name: META.name },
  ];
  for (const meta of bad) {
    const sealed = sealMetadata(meta as FileMetadata, DATA_KEY, FILE_ID);
    assert.throws(() => openMetadata(sealed, DATA_KEY, FILE_ID, 1), isBadManifest, JSON.stringify(meta));
  }
});

// =============================== checkFileName ===============================

test('checkFileName rejects empty, dot names, separators, NUL, C0/C1 controls and names over 255 bytes', () => {
  const unsafe = [
    '', '.', '..', 'a/b', 'a\\b', '/etc/passwd', 'a\0b', 'nul\u0000', '\x1b[31mred', 'csi\x9b31m', 'del\x7f', 'tab\tname',
    'line\nbreak', 'x'.repeat(256), 'é'.repeat(128), // 256 bytes in UTF-8
  ];
  for (const name of unsafe) assert.throws(() => checkFileName(name), isBadManifest, JSON.stringify(name));
});

test('checkFileName accepts ordinary names, including accents, spaces, parentheses and 255 bytes', () => {
  for (const name of ['résumé.pdf', 'a b (1).txt', '...hidden', '.bashrc', 'x'.repeat(255), 'é'.repeat(127) + 'x', '日本語.txt']) {
    assert.doesNotThrow(() => checkFileName(name), JSON.stringify(name));
  }
});

// =============================== plaintextBytes ===============================

test('plaintextBytes subtracts 29 bytes of overhead per chunk', () => {
  assert.equal(plaintextBytes(SIGNED), PLAINTEXT.length);
  assert.equal(plaintextBytes({ totalBytes: BLOB_OVERHEAD_BYTES, chunkCount: 1 }), 0);
  assert.equal(plaintextBytes({ totalBytes: 3 * (1024 * 1024 + 29), chunkCount: 3 }), 3 * 1024 * 1024);
});
