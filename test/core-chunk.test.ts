// Chunk format v1 (DESIGN "Formats > Chunk"), checked against fixed vectors.
// The vectors were computed outside this code, with WebCrypto (and cross-checked with Python's
// `cryptography` AESGCM), from nonce and associated data built by hand as DESIGN describes; the
// last tests here redo that derivation so the literals are explained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  BLOB_FORMAT_V1, blobNoncePrefix, chunkAad, chunkId, chunkNonce, openChunk, sealChunk, type ChunkPlace,
} from '../src/core/chunk.js';
import { P2pfxError } from '../src/core/errors.js';
import { BLOB_OVERHEAD_BYTES, MiB } from '../src/core/limits.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i)); // 00..1f
const NONCE_PREFIX = Buffer.from(Array.from({ length: 8 }, (_, i) => 0xa0 + i)); // a0..a7
const FILE_ID = Buffer.from(Array.from({ length: 16 }, (_, i) => 0x10 + i)); // 10..1f
const PLAINTEXT = Buffer.from('p2pfx chunk vector\n', 'utf8');

interface Vector { index: number; last: boolean; aadHex: string; blobHex: string; id: string }

const VECTORS: Vector[] = [
  {
    index: 0, last: false,
    aadHex: '70327066782f31101112131415161718191a1b1c1d1e1f000000000000000000',
    blobHex: '01a0a1a2a3a4a5a6a7000000008e6b9ece2912114da211b1b9fa1356dec9e764f343060a001435e25ab1e1adc621d3c3',
    id: '0406eb07020d5d7305a5e58288b1fcfc6838ecc8625b7e2aaaf5f6d779e205dd',
  },
  {
    index: 0, last: true,
    aadHex: '70327066782f31101112131415161718191a1b1c1d1e1f000000000000000001',
    blobHex: '01a0a1a2a3a4a5a6a7000000008e6b9ece2912114da211b1b9fa1356dec9e76492f473399481b1be692478c520e2c7f1',
    id: 'f0407f5dfd226b10fcaa10b67b6ccf85c4a0868179d12ed4b87f61822734c247',
  },
  {
    index: 5, last: false,
    aadHex: '70327066782f31101112131415161718191a1b1c1d1e1f000000000000000500',
    blobHex: '01a0a1a2a3a4a5a6a70000000544dccbdf892e16a702055269ec0b43a107d874e7b569eae964d1a2d3a81d656b81dacd',
    id: 'f2d9daf5728a59be9399bf09656c1d2cda82271447a2d598ecde59d734c6865e',
  },
  {
    index: 5, last: true,
    aadHex: '70327066782f31101112131415161718191a1b1c1d1e1f000000000000000501',
    blobHex: '01a0a1a2a3a4a5a6a70000000544dccbdf892e16a702055269ec0b43a107d87486021cd97df155fee03d840d8d42ceff',
    id: '671f21f28cd50e835d5981c0bdd39540c83162fba2457094cca6d97504912a0c',
  },
];

/** Empty plaintext at index 0, last: the blob is format ‖ nonce ‖ tag only. */
const EMPTY_VECTOR = {
  blobHex: '01a0a1a2a3a4a5a6a7000000001eefa618318ed4e3924789517d79dff0',
  id: '65547b8873ba7bbe67265234698689a89c5773ac73be14c7e924ee0bfd55a9d6',
};

const PLACE_0: ChunkPlace = { fileId: FILE_ID, index: 0, last: false };

function isDecryptFailed(err: unknown): boolean {
  assert.ok(err instanceof P2pfxError, `expected a P2pfxError, got ${String(err)}`);
  assert.equal(err.code, 'DECRYPT_FAILED');
  return true;
}

function flipBit(blob: Uint8Array, byte: number, bit = 0): Buffer {
  const copy = Buffer.from(blob);
  copy[byte] = (copy[byte] ?? 0) ^ (1 << bit);
  return copy;
}

for (const v of VECTORS) {
  test(`sealChunk vector: index ${v.index}, last ${v.last} gives the fixed blob and chunk id`, () => {
    const blob = sealChunk(KEY, NONCE_PREFIX, { fileId: FILE_ID, index: v.index, last: v.last }, PLAINTEXT);
    assert.equal(blob.toString('hex'), v.blobHex);
    assert.equal(chunkId(blob), v.id);
  });

  test(`openChunk vector: index ${v.index}, last ${v.last} opens the fixed blob to the plaintext`, () => {
    const opened = openChunk(KEY, { fileId: FILE_ID, index: v.index, last: v.last }, Buffer.from(v.blobHex, 'hex'));
    assert.equal(opened.toString('utf8'), 'p2pfx chunk vector\n');
  });

  test(`chunkAad vector: index ${v.index}, last ${v.last} is "p2pfx/1" ‖ fileId ‖ u64 BE ‖ flag`, () => {
    assert.equal(chunkAad({ fileId: FILE_ID, index: v.index, last: v.last }).toString('hex'), v.aadHex);
  });
}

test('sealChunk vector: empty plaintext gives format ‖ nonce ‖ tag (29 bytes) and opens to empty', () => {
  const place = { fileId: FILE_ID, index: 0, last: true };
  const blob = sealChunk(KEY, NONCE_PREFIX, place, new Uint8Array(0));
  assert.equal(blob.length, BLOB_OVERHEAD_BYTES);
  assert.equal(blob.toString('hex'), EMPTY_VECTOR.blobHex);
  assert.equal(chunkId(blob), EMPTY_VECTOR.id);
  assert.equal(openChunk(KEY, place, blob).length, 0);
});

test('the last-flag changes only the tag: ciphertext bytes of index 0 are equal with last true and false', () => {
  const [notLast, last] = VECTORS.filter((v) => v.index === 0).map((v) => Buffer.from(v.blobHex, 'hex'));
  assert.ok(notLast && last);
  const bodyEnd = notLast.length - 16;
  assert.deepEqual(notLast.subarray(0, bodyEnd), last.subarray(0, bodyEnd));
  assert.notDeepEqual(notLast.subarray(bodyEnd), last.subarray(bodyEnd));
});

test('blob layout: byte 0 is 0x01, bytes 1..12 are nonce prefix ‖ index uint32 BE, length is plaintext + 29', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, { fileId: FILE_ID, index: 0x01020304, last: false }, PLAINTEXT);
  assert.equal(blob[0], 0x01);
  assert.equal(BLOB_FORMAT_V1, 0x01);
  assert.equal(blob.subarray(1, 13).toString('hex'), 'a0a1a2a3a4a5a6a701020304');
  assert.equal(blob.length, PLAINTEXT.length + 1 + 12 + 16);
  assert.equal(blobNoncePrefix(blob).toString('hex'), 'a0a1a2a3a4a5a6a7');
  assert.equal(chunkNonce(NONCE_PREFIX, 0x01020304).toString('hex'), 'a0a1a2a3a4a5a6a701020304');
});

test('chunkId is the lowercase hex SHA-256 of the whole blob', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.equal(chunkId(blob), createHash('sha256').update(blob).digest('hex'));
  assert.match(chunkId(blob), /^[0-9a-f]{64}$/);
});

test('sealChunk is deterministic: the same inputs give an identical blob', () => {
  const a = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  const b = sealChunk(KEY, NONCE_PREFIX, { ...PLACE_0, fileId: Buffer.from(FILE_ID) }, Buffer.from(PLAINTEXT));
  assert.deepEqual(a, b);
  assert.equal(chunkId(a), chunkId(b));
});

test('round trip: a 1 MiB random plaintext seals to 1 MiB + 29 bytes and opens to the same bytes', () => {
  const key = randomBytes(32);
  const prefix = randomBytes(8);
  const place = { fileId: randomBytes(16), index: 7, last: true };
  const plaintext = randomBytes(MiB);
  const blob = sealChunk(key, prefix, place, plaintext);
  assert.equal(blob.length, MiB + BLOB_OVERHEAD_BYTES);
  assert.ok(openChunk(key, place, blob).equals(plaintext));
});

test('openChunk accepts a Uint8Array view into a larger buffer (non-zero byteOffset)', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  const backing = new Uint8Array(blob.length + 20);
  backing.set(blob, 7);
  const view = backing.subarray(7, 7 + blob.length);
  assert.deepEqual(openChunk(KEY, PLACE_0, view), PLAINTEXT);
});

test('openChunk fails with DECRYPT_FAILED at another index', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(KEY, { ...PLACE_0, index: 1 }, blob), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED when the nonce is rewritten to claim another index', () => {
  // Moving a chunk means rewriting both the place and the nonce's index; the AAD still catches it.
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  const moved = Buffer.from(blob);
  moved.writeUInt32BE(1, 9);
  assert.throws(() => openChunk(KEY, { ...PLACE_0, index: 1 }, moved), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED for another file id', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  const otherFile = flipBit(FILE_ID, 15);
  assert.throws(() => openChunk(KEY, { ...PLACE_0, fileId: otherFile }, blob), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED when the last-flag is flipped, either way', () => {
  const notLast = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  const last = sealChunk(KEY, NONCE_PREFIX, { ...PLACE_0, last: true }, PLAINTEXT);
  assert.throws(() => openChunk(KEY, { ...PLACE_0, last: true }, notLast), isDecryptFailed);
  assert.throws(() => openChunk(KEY, { ...PLACE_0, last: false }, last), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED under another key', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(flipBit(KEY, 31, 7), PLACE_0, blob), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED when one ciphertext bit is flipped', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, 13)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, 13 + PLAINTEXT.length - 1, 7)), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED when one tag bit is flipped', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, blob.length - 16)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, blob.length - 1, 7)), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED when one nonce bit is flipped (prefix or index part)', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, 1)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, 8, 3)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, flipBit(blob, 12)), isDecryptFailed);
});

test('openChunk fails with DECRYPT_FAILED for a wrong format byte', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  for (const format of [0x00, 0x02, 0xff]) {
    const other = Buffer.from(blob);
    other[0] = format;
    assert.throws(() => openChunk(KEY, PLACE_0, other), isDecryptFailed, `format 0x${format.toString(16)}`);
  }
});

test('openChunk fails with DECRYPT_FAILED for a blob shorter than 29 bytes, or truncated', () => {
  const blob = sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT);
  assert.throws(() => openChunk(KEY, PLACE_0, new Uint8Array(0)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, blob.subarray(0, BLOB_OVERHEAD_BYTES - 1)), isDecryptFailed);
  assert.throws(() => openChunk(KEY, PLACE_0, blob.subarray(0, blob.length - 1)), isDecryptFailed);
});

test('chunk indices outside 0..2^32-2 are refused before sealing', () => {
  for (const index of [-1, 1.5, 0xffffffff, Number.NaN]) {
    assert.throws(() => sealChunk(KEY, NONCE_PREFIX, { ...PLACE_0, index }, PLAINTEXT), RangeError, `index ${index}`);
  }
  const top = sealChunk(KEY, NONCE_PREFIX, { ...PLACE_0, index: 0xfffffffe }, PLAINTEXT);
  assert.equal(top.subarray(9, 13).toString('hex'), 'fffffffe');
});

test('a nonce prefix or file id of the wrong length is refused', () => {
  assert.throws(() => sealChunk(KEY, NONCE_PREFIX.subarray(0, 7), PLACE_0, PLAINTEXT), RangeError);
  assert.throws(() => sealChunk(KEY, NONCE_PREFIX, { ...PLACE_0, fileId: FILE_ID.subarray(0, 15) }, PLAINTEXT), RangeError);
});

// --- The vectors, derived again through WebCrypto (not through node:crypto's cipher API) ---

async function webCryptoSeal(index: number, last: boolean, plaintext: Uint8Array): Promise<Buffer> {
  const subtle = globalThis.crypto.subtle;
  const iv = new Uint8Array(12);
  iv.set(NONCE_PREFIX, 0);
  new DataView(iv.buffer).setUint32(8, index, false);
  const label = new TextEncoder().encode('p2pfx/1');
  const aad = new Uint8Array(label.length + 16 + 8 + 1);
  aad.set(label, 0);
  aad.set(FILE_ID, label.length);
  new DataView(aad.buffer).setBigUint64(label.length + 16, BigInt(index), false);
  aad[aad.length - 1] = last ? 1 : 0;
  const key = await subtle.importKey('raw', KEY, 'AES-GCM', false, ['encrypt']);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 }, key, plaintext));
  return Buffer.concat([Buffer.from([0x01]), iv, sealed]);
}

test('WebCrypto AES-GCM with hand-built nonce and AAD reproduces every fixed vector', async () => {
  for (const v of VECTORS) {
    const blob = await webCryptoSeal(v.index, v.last, PLAINTEXT);
    assert.equal(blob.toString('hex'), v.blobHex, `index ${v.index}, last ${v.last}`);
    const digest = Buffer.from(await globalThis.crypto.subtle.digest('SHA-256', blob)).toString('hex');
    assert.equal(digest, v.id);
  }
  assert.equal((await webCryptoSeal(0, true, new Uint8Array(0))).toString('hex'), EMPTY_VECTOR.blobHex);
});

test('WebCrypto and sealChunk agree on a random plaintext at a large index', async () => {
  const plaintext = randomBytes(4099);
  const index = 0x89abcdef;
  const ours = sealChunk(KEY, NONCE_PREFIX, { fileId: FILE_ID, index, last: true }, plaintext);
  assert.deepEqual(ours, await webCryptoSeal(index, true, plaintext));
});

test('sealing and opening in slices: every length around the slice size gives the blob WebCrypto gives for the whole, and opens back into a reused buffer', async () => {
  const { CIPHER_SLICE_BYTES } = await import('../src/core/limits.js');
  const { openChunkInto, sealChunkInto } = await import('../src/core/chunk.js');
  const out = Buffer.alloc(3 * CIPHER_SLICE_BYTES + BLOB_OVERHEAD_BYTES + 64, 0xee);
  const plainOut = Buffer.alloc(3 * CIPHER_SLICE_BYTES + 64, 0xee);
  const lengths = [0, 1, CIPHER_SLICE_BYTES - 1, CIPHER_SLICE_BYTES, CIPHER_SLICE_BYTES + 1, 2 * CIPHER_SLICE_BYTES + 7, 3 * CIPHER_SLICE_BYTES];
  for (const length of lengths) {
    const plain = randomBytes(length);
    const place: ChunkPlace = { fileId: FILE_ID, index: 7, last: length % 2 === 0 };
    const blob = sealChunkInto(out, KEY, NONCE_PREFIX, place, plain);
    // The reference: AES-256-GCM of the whole plaintext at once, by WebCrypto.
    const key = await crypto.subtle.importKey('raw', KEY, 'AES-GCM', false, ['encrypt']);
    const sealed = Buffer.from(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: chunkNonce(NONCE_PREFIX, 7), additionalData: chunkAad(place), tagLength: 128 }, key, plain));
    assert.deepEqual(blob, Buffer.concat([Buffer.from([BLOB_FORMAT_V1]), chunkNonce(NONCE_PREFIX, 7), sealed]), `length ${length}`);
    const opened = openChunkInto(plainOut, KEY, place, blob);
    assert.equal(opened.buffer, plainOut.buffer, 'opened into the buffer given');
    assert.deepEqual(opened, plain, `length ${length}`);
  }
  assert.throws(() => openChunkInto(Buffer.alloc(2), KEY, PLACE_0, sealChunk(KEY, NONCE_PREFIX, PLACE_0, PLAINTEXT)), RangeError);
});
