// The pieces of the transfer pipelines: ordered pool, buffer ring, crypto workers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { chunkId, sealChunk } from '../src/core/chunk.js';
import { BufferRing } from '../src/transfer/buffer-ring.js';
import { CryptoPool } from '../src/transfer/crypto-pool.js';
import { runOrdered } from '../src/transfer/ordered-pool.js';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('runOrdered consumes in index order, never more than `concurrency` fetches or `window` results at once', async () => {
  let running = 0;
  let maxRunning = 0;
  const consumed: number[] = [];
  let maxAhead = 0;
  await runOrdered({
    count: 50, concurrency: 4, window: 6,
    fetch: async (i) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      maxAhead = Math.max(maxAhead, i - consumed.length);
      await delay((i * 7) % 5);
      running--;
      return i * 2;
    },
    consume: (i, r) => {
      assert.equal(r, i * 2);
      consumed.push(i);
    },
  });
  assert.deepEqual(consumed, Array.from({ length: 50 }, (_, i) => i));
  assert.ok(maxRunning <= 4, `at most 4 running (${maxRunning})`);
  assert.ok(maxAhead < 6, `never more than the window ahead (${maxAhead})`);
});

test('runOrdered rejects with the first failure only after the fetches under way have ended', async () => {
  const ended: number[] = [];
  await assert.rejects(runOrdered({
    count: 10, concurrency: 4,
    fetch: async (i) => {
      if (i === 1) throw new Error('boom');
      await delay(20);
      ended.push(i);
      return i;
    },
    consume: () => undefined,
  }), /boom/);
  assert.deepEqual(ended.sort(), [0, 2, 3], 'the three started beside the failure finished before the rejection');
});

test('runOrdered with nothing to do resolves at once', async () => {
  await runOrdered({ count: 0, concurrency: 3, fetch: async () => 1, consume: () => assert.fail('nothing to consume') });
});

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

test('a worker seals exactly as sealChunk does, hashes the whole plaintext in order, and hands buffers back', async (t) => {
  const pool = new CryptoPool(2);
  t.after(() => pool.close());
  const key = randomBytes(32);
  const noncePrefix = randomBytes(8);
  const fileId = randomBytes(16);
  const sealer = pool.fileSealer();
  const whole = createHash('sha256');
  for (let index = 0; index < 5; index++) {
    const plain = Buffer.allocUnsafeSlow(4096);
    const length = index === 4 ? 1000 : 4096;
    plain.fill(index + 1, 0, length);
    const original = Buffer.from(plain.subarray(0, length));
    whole.update(original);
    const expected = sealChunk(key, noncePrefix, { fileId, index, last: index === 4 }, plain.subarray(0, length));
    const out = Buffer.allocUnsafeSlow(4096 + 29);
    const r = await sealer.seal({ key, noncePrefix, fileId, index, last: index === 4 }, plain, length, out);
    assert.deepEqual(r.blob, expected);
    assert.equal(r.id, chunkId(expected));
    assert.equal(r.plain.buffer.byteLength, 4096, 'the plaintext buffer came back whole');
    assert.equal(r.blob.buffer.byteLength, 4096 + 29, 'the blob was written into the buffer given');
    const opened = await pool.open({ key, fileId, index, last: index === 4, id: r.id }, r.blob);
    assert.deepEqual(opened.plain, original);
    assert.equal(plain.length, 0, 'the buffer given to seal() was moved, not copied');
  }
  assert.equal(await sealer.digest(), whole.digest('hex'));
});

test('a worker refuses a blob that is not its id (HASH_MISMATCH) or not of its place (DECRYPT_FAILED)', async (t) => {
  const pool = new CryptoPool(1);
  t.after(() => pool.close());
  const key = randomBytes(32);
  const fileId = randomBytes(16);
  const blob = sealChunk(key, randomBytes(8), { fileId, index: 3, last: false }, randomBytes(100));
  const id = chunkId(blob);
  await assert.rejects(pool.open({ key, fileId, index: 3, last: false, id: 'f'.repeat(64) }, Buffer.from(blob)), { code: 'HASH_MISMATCH' });
  await assert.rejects(pool.open({ key, fileId, index: 4, last: false, id }, Buffer.from(blob)), { code: 'DECRYPT_FAILED' });
  await assert.rejects(pool.open({ key, fileId, index: 3, last: true, id }, Buffer.from(blob)), { code: 'DECRYPT_FAILED' });
  const ok = await pool.open({ key, fileId, index: 3, last: false, id }, Buffer.from(blob));
  assert.equal(ok.plain.length, 100);
});
