// The pieces of the transfer pipelines: buffer ring, crypto workers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkId, sealChunk } from '../src/core/chunk.js';
import { BufferRing } from '../src/core/buffer-ring.js';
import { CryptoPool } from '../src/transfer/crypto-pool.js';
import { tempDir } from './helpers/network.js';


test('a buffer ring hands back what it was given, up to its size and count', () => {
  const ring = new BufferRing(1024, 2);
  const a = ring.take();
  assert.equal(a.length, 1024);
  assert.equal(a.buffer.byteLength, 1024, 'owns its whole ArrayBuffer');
  ring.give(a);
  assert.equal(ring.take().buffer, a.buffer);
  ring.give(Buffer.alloc(10));
  assert.notEqual(ring.take().length, 10, 'a buffer of another size is not kept');
});

test('a worker reads and seals exactly as sealChunk does, hashes the whole file in order, and writes into the buffer given', async (t) => {
  const pool = new CryptoPool(2);
  t.after(() => pool.close());
  const dir = await tempDir(t);
  const data = randomBytes(4 * 4096 + 1000);
  const path = join(dir, 'source.bin');
  await writeFile(path, data);
  const fh = await open(path, 'r');
  t.after(() => fh.close());
  const key = randomBytes(32);
  const noncePrefix = randomBytes(8);
  const fileId = randomBytes(16);
  const sealer = pool.fileSealer({ wholeHash: true });
  for (let index = 0; index < 5; index++) {
    const last = index === 4;
    const plain = data.subarray(index * 4096, Math.min(data.length, (index + 1) * 4096));
    const expected = sealChunk(key, noncePrefix, { fileId, index, last }, plain);
    const out = Buffer.allocUnsafeSlow(4096 + 29);
    const r = await sealer.readSeal({ key, noncePrefix, fileId, index, last, fd: fh.fd, position: index * 4096, length: plain.length, name: 'source.bin' }, out);
    assert.deepEqual(r.blob, expected);
    assert.equal(r.id, chunkId(expected));
    assert.equal(r.blob.buffer.byteLength, 4096 + 29, 'the blob was written into the buffer given');
    assert.equal(out.length, 0, 'the buffer was moved to the worker, not copied');
  }
  assert.equal(await sealer.digest(), createHash('sha256').update(data).digest('hex'));
  await assert.rejects(sealer.readSeal({ key, noncePrefix, fileId, index: 5, last: true, fd: fh.fd, position: data.length, length: 10, name: 'source.bin' }, Buffer.allocUnsafeSlow(64)), { code: 'FILE_CHANGED' });
});

test('a worker writes each opened chunk at its offset, and refuses bytes that are not the id or not of the place', async (t) => {
  const pool = new CryptoPool(1);
  t.after(() => pool.close());
  const dir = await tempDir(t);
  const key = randomBytes(32);
  const noncePrefix = randomBytes(8);
  const fileId = randomBytes(16);
  const pieces = [randomBytes(100), randomBytes(100), randomBytes(37)];
  const blobs = pieces.map((p, index) => sealChunk(key, noncePrefix, { fileId, index, last: index === 2 }, p));
  const fh = await open(join(dir, 'out.part'), 'w');
  t.after(() => fh.close());
  const writer = pool.fileWriter({ wholeHash: true });
  const place = (index: number) => ({ key, fileId, index, last: index === 2, id: chunkId(blobs[index]!), fd: fh.fd, position: index * 100 });
  await assert.rejects(writer.openWrite({ ...place(0), id: 'f'.repeat(64) }, Buffer.from(blobs[0]!), blobs[0]!.length), { code: 'HASH_MISMATCH' });
  await assert.rejects(writer.openWrite({ ...place(1), index: 0, position: 0 }, Buffer.from(blobs[1]!), blobs[1]!.length), { code: 'DECRYPT_FAILED' });
  await assert.rejects(writer.openWrite({ ...place(0), last: true }, Buffer.from(blobs[0]!), blobs[0]!.length), { code: 'DECRYPT_FAILED' });
  for (const index of [0, 1, 2]) {
    const r = await writer.openWrite(place(index), Buffer.from(blobs[index]!), blobs[index]!.length);
    assert.equal(r.plainLength, pieces[index]!.length);
    assert.equal(r.blob.length, blobs[index]!.length, 'the blob\'s buffer comes back for reuse');
    assert.deepEqual(r.blob.subarray(0, r.plainLength), pieces[index], 'opened in place: the plaintext over the blob');
  }
  assert.equal(await writer.digest(), createHash('sha256').update(Buffer.concat(pieces)).digest('hex'), 'refused chunks were not hashed');
  await fh.close();
  assert.deepEqual(await readFile(join(dir, 'out.part')), Buffer.concat(pieces));
});
