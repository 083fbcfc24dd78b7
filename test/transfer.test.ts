// send and get between real nodes: mTLS servers on 127.0.0.1, real files, real SQLite.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { P2pfxError } from '../src/core/errors.js';
import { signManifest, type Manifest } from '../src/core/manifest.js';
import { getFile, PARTIAL_DIR } from '../src/transfer/get.js';
import { bulkActivity } from '../src/net/server.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir, type TestNode } from './helpers/network.js';

const KB = 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const fileSha = async (p: string) => sha(await readFile(p));

async function pair(t: Parameters<typeof makeNetwork>[0]) {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const c = await net.add('gamma', { serve: false });
  const data = await tempDir(t);
  return { net, a, b, c, data, ab: a.client(b), cb: c.client(b) };
}

/**
 * Fails the test unless the folder holds exactly these final names, and its partial-download
 * folder holds exactly `partials` (no half file under a final name, ever).
 */
/** Waits for `cond` (checked every 10 ms), failing after a generous bound: a hang, not a timing. */
async function until(what: string, cond: () => boolean, boundMs = 30_000): Promise<void> {
  for (const start = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - start > boundMs) assert.fail(`waited ${boundMs} ms for ${what}`);
  }
}

async function assertFolder(dir: string, names: string[], partials: string[] = []): Promise<void> {
  const found = (await readdir(dir).catch(() => [] as string[])).filter((n) => n !== PARTIAL_DIR);
  assert.deepEqual(found.sort(), [...names].sort(), `contents of ${dir}`);
  assert.deepEqual((await readdir(join(dir, PARTIAL_DIR)).catch(() => [] as string[])).sort(), [...partials].sort(), `partial downloads in ${dir}`);
}

async function peerChunkCount(n: TestNode): Promise<number> {
  return (await n.node.store.usage()).count;
}

test('send then get round-trips files of awkward sizes, verified by SHA-256', async (t) => {
  const { a, ab, data } = await pair(t);
  for (const size of [0, 1, 4 * KB, 4 * KB + 1, 37 * KB + 5]) {
    const path = await randomFile(data, `f-${size}.bin`, size);
    const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
    assert.equal(sent.chunkCount, Math.max(1, Math.ceil(size / (4 * KB))));
    assert.equal(sent.sentChunks, sent.chunkCount);
    const got = await getFile({ node: a.node, client: ab, ref: sent.fileId });
    assert.equal(got.size, size);
    assert.equal(await fileSha(got.path), await fileSha(path));
    assert.equal(got.path, join(a.home.receivedDir, `f-${size}.bin`));
  }
});

test('get by name with a password from a node that holds no key; the name is refused without one', async (t) => {
  const { a, ab, cb, c, data } = await pair(t);
  const path = await randomFile(data, 'report.pdf', 50 * KB);
  await sendFile({ node: a.node, client: ab, path, chunkSize: 16 * KB, password: 'correct horse' });
  await assert.rejects(getFile({ node: c.node, client: cb, ref: 'report.pdf' }), { code: 'MANIFEST_NOT_FOUND' });
  const got = await getFile({ node: c.node, client: cb, ref: 'report.pdf', password: 'correct horse' });
  assert.equal(await fileSha(got.path), await fileSha(path));
});

test('wrong password: WRONG_PASSWORD naming the file, no output and no .part left', async (t) => {
  const { a, ab, cb, c, data } = await pair(t);
  const path = await randomFile(data, 'secret.txt', 10 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB, password: 'right' });
  await assert.rejects(getFile({ node: c.node, client: cb, ref: sent.fileId, password: 'wrong' }), (err: P2pfxError) => {
    assert.equal(err.code, 'WRONG_PASSWORD');
    assert.match(err.message, new RegExp(sent.fileId));
    return true;
  });
  await assert.rejects(getFile({ node: c.node, client: cb, ref: sent.fileId }), { code: 'PASSWORD_REQUIRED' });
  await assertFolder(c.home.receivedDir, []);
});

test('a node without an envelope for it and no password envelope cannot read the file', async (t) => {
  const { a, ab, b, cb, c, data } = await pair(t);
  const path = await randomFile(data, 'private.bin', 10 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  // beta stores every chunk and the manifest, and still holds no key.
  assert.equal(await peerChunkCount(b), sent.chunkCount);
  await assert.rejects(getFile({ node: c.node, client: cb, ref: sent.fileId, password: 'anything' }), { code: 'NO_KEY' });
  await assertFolder(c.home.receivedDir, []);
});

test('sending the same file again moves nothing and does not grow the peer store', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'same.bin', 40 * KB);
  const first = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const held = await peerChunkCount(b);
  const second = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  assert.equal(second.fileId, first.fileId);
  assert.equal(second.sentChunks, 0);
  assert.equal(second.quick, true, 'the file was not read again');
  assert.equal(await peerChunkCount(b), held);
});

test('an interrupted send resumes with only the chunks the peer lacks', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'big.bin', 200 * KB);
  const count = 50;
  await assert.rejects(sendFile({
    node: a.node, client: ab, path, chunkSize: 4 * KB, concurrency: 2,
    onProgress: (p) => { if (p.doneChunks >= 20) throw new Error('interrupted'); },
  }), /interrupted/);
  // Chunks the peer had received whole when the stream was cut still land: counted once they have.
  await until('the peer to settle its upload', () => bulkActivity(b.server!.app) === 0);
  const before = await peerChunkCount(b);
  assert.ok(before >= 20 && before < count, `peer holds part of the file (${before})`);
  const resumed = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  assert.equal(resumed.sentChunks, count - before);
  assert.equal(await peerChunkCount(b), count);
  const got = await getFile({ node: a.node, client: ab, ref: resumed.fileId });
  assert.equal(await fileSha(got.path), await fileSha(path));
});

test('a file changed under the same size and mtime gets a new file id, never the old key', async (t) => {
  const { a, ab, data } = await pair(t);
  const path = await randomFile(data, 'edit.bin', 20 * KB);
  const { mtime } = await stat(path);
  const first = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const bytes = await readFile(path);
  bytes[5000] = bytes[5000]! ^ 0xff;
  await writeFile(path, bytes);
  await utimes(path, mtime, mtime); // hide the change from size and mtime
  const second = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  assert.notEqual(second.fileId, first.fileId);
  assert.equal(second.sentChunks, second.chunkCount);
  const got = await getFile({ node: a.node, client: ab, ref: second.fileId });
  assert.equal(await fileSha(got.path), sha(bytes));
  // A visible change (mtime) also gets a new id.
  await utimes(path, new Date(), new Date());
  const third = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  assert.notEqual(third.fileId, second.fileId);
});

test('a chunk corrupted on the peer\'s disk is refused with its id; nothing is written', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'victim.bin', 20 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const bad = sent.manifest.chunks[2]!.id;
  const onDisk = b.node.store.pathOf(bad);
  const bytes = await readFile(onDisk);
  bytes[100] = bytes[100]! ^ 1;
  await writeFile(onDisk, bytes);
  await assert.rejects(getFile({ node: a.node, client: ab, ref: sent.fileId }), (err: P2pfxError) => {
    assert.equal(err.code, 'HASH_MISMATCH');
    assert.match(err.message, new RegExp(bad));
    return true;
  });
  await assertFolder(a.home.receivedDir, []);
  assert.equal(await a.node.store.has(bad), false, 'the bad bytes were not kept');
});

test('a chunk missing on the peer: CHUNK_NOT_FOUND, no final file; get resumes from the checked partial once it is back', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'holey.bin', 40 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const gone = sent.manifest.chunks[6]!.id;
  const blob = await b.node.store.read(gone);
  await b.node.store.remove(gone);
  await assert.rejects(getFile({ node: a.node, client: ab, ref: sent.fileId, concurrency: 2 }), (err: P2pfxError) => {
    assert.equal(err.code, 'CHUNK_NOT_FOUND');
    assert.match(err.message, new RegExp(gone));
    return true;
  });
  await assertFolder(a.home.receivedDir, [], [`${sent.fileId}.part`]);
  await b.node.store.putBlob(gone, blob);
  const got = await getFile({ node: a.node, client: ab, ref: sent.fileId });
  assert.ok(got.resumedChunks >= 1 && got.resumedChunks <= 6, `resumed from the chunks checked in the partial (${got.resumedChunks})`);
  assert.equal(got.fetchedChunks, sent.chunkCount - got.resumedChunks);
  assert.equal(await fileSha(got.path), await fileSha(path));
  await assertFolder(a.home.receivedDir, ['holey.bin']);
});

test('a partial download whose bytes were altered is not trusted: it is checked and fetched again', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'tamper.bin', 40 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const gone = sent.manifest.chunks[8]!.id;
  const blob = await b.node.store.read(gone);
  await b.node.store.remove(gone);
  await assert.rejects(getFile({ node: a.node, client: ab, ref: sent.fileId, concurrency: 1 }), { code: 'CHUNK_NOT_FOUND' });
  const partial = join(a.home.receivedDir, PARTIAL_DIR, `${sent.fileId}.part`);
  const bytes = await readFile(partial);
  assert.ok(bytes.length >= 8 * 4 * KB, 'eight chunks were written');
  bytes[5 * 4 * KB + 7] = bytes[5 * 4 * KB + 7]! ^ 0x40;
  await writeFile(partial, bytes);
  await b.node.store.putBlob(gone, blob);
  const got = await getFile({ node: a.node, client: ab, ref: sent.fileId });
  assert.equal(got.resumedChunks, 0, 'a wrong chunk inside the partial makes it start over');
  assert.equal(await fileSha(got.path), await fileSha(path));
});

test('a manifest tampered with after signing is refused: BAD_MANIFEST, nothing written', async (t) => {
  const { a, ab, b, data } = await pair(t);
  const path = await randomFile(data, 'signed.bin', 20 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  // Written into the peer's index behind its back, as a hostile or broken peer would serve it.
  const tampered: Manifest = { ...sent.manifest, fileId: 'f'.repeat(32) };
  b.node.db.putManifest(tampered);
  await assert.rejects(getFile({ node: a.node, client: ab, ref: tampered.fileId }), (err: P2pfxError) => {
    assert.equal(err.code, 'BAD_MANIFEST');
    assert.match(err.message, /signature does not verify/);
    return true;
  });
  await assertFolder(a.home.receivedDir, []);
});

test('a chunk moved to another index fails to open: DECRYPT_FAILED, nothing written', async (t) => {
  const { a, ab, data } = await pair(t);
  const path = await randomFile(data, 'order.bin', 20 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const { signature: _signature, ...unsigned } = sent.manifest;
  const chunks = unsigned.chunks.map((c) => ({ ...c }));
  [chunks[1]!.id, chunks[2]!.id] = [chunks[2]!.id, chunks[1]!.id];
  // Properly signed by the sender, same file id and keys: only the order of two chunks differs.
  const reordered = signManifest({ ...unsigned, chunks, createdAt: new Date(Date.now() + 1000).toISOString() }, a.node.creds.keyPem);
  assert.equal((await ab.putManifest(reordered)).outcome, 'updated');
  await assert.rejects(getFile({ node: a.node, client: ab, ref: sent.fileId }), (err: P2pfxError) => {
    assert.equal(err.code, 'DECRYPT_FAILED');
    assert.match(err.message, /chunk 1/);
    return true;
  });
  await assertFolder(a.home.receivedDir, []);
});

test('one name sent twice by one sender: get by name takes the newest version; a name two senders used is AMBIGUOUS_NAME listing both', async (t) => {
  const { a, ab, c, cb, data } = await pair(t);
  const d1 = await tempDir(t);
  const p1 = await randomFile(d1, 'dup.txt', 5 * KB);
  const p2 = await randomFile(data, 'dup.txt', 6 * KB);
  await sendFile({ node: a.node, client: ab, path: p1, chunkSize: 4 * KB });
  const s2 = await sendFile({ node: a.node, client: ab, path: p2, chunkSize: 4 * KB });
  const newest = await getFile({ node: a.node, client: ab, ref: 'dup.txt', outDir: await tempDir(t) });
  assert.equal(newest.fileId, s2.fileId, 'the newest of alpha\'s two versions');
  assert.equal(await fileSha(newest.path), await fileSha(p2));

  const p3 = await randomFile(await tempDir(t), 'dup.txt', 7 * KB);
  const s3 = await sendFile({ node: c.node, client: cb, path: p3, chunkSize: 4 * KB, password: 'open sesame' });
  await assert.rejects(getFile({ node: a.node, client: ab, ref: 'dup.txt', password: 'open sesame' }), (err: P2pfxError) => {
    assert.equal(err.code, 'AMBIGUOUS_NAME');
    assert.match(err.message, /^2 senders have a file named "dup\.txt": /);
    assert.match(err.message, new RegExp(`${s2.fileId} from alpha`));
    assert.match(err.message, new RegExp(`${s3.fileId} from gamma`));
    return true;
  });
});

test('a second download of the same file: already here and untouched, nothing written; into another folder, or once edited here, a copy beside it, never over it', async (t) => {
  const { a, ab, data } = await pair(t);
  const path = await randomFile(data, 'photo.jpg', 9 * KB);
  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 4 * KB });
  const first = await getFile({ node: a.node, client: ab, ref: sent.fileId });
  assert.equal(first.path, join(a.home.receivedDir, 'photo.jpg'));
  assert.equal(first.alreadyHere, false);
  const second = await getFile({ node: a.node, client: ab, ref: 'photo.jpg' });
  assert.deepEqual([second.path, second.alreadyHere, second.fetchedChunks], [first.path, true, 0]);
  await assertFolder(a.home.receivedDir, ['photo.jpg']);
  // Another folder is another place: the file is written there.
  const elsewhere = await tempDir(t);
  const third = await getFile({ node: a.node, client: ab, ref: sent.fileId, outDir: elsewhere });
  assert.equal(third.alreadyHere, false);
  assert.equal(await fileSha(third.path), await fileSha(path));
  // Edited since it was received: never taken as the file, never overwritten.
  await writeFile(first.path, 'my edit');
  const fourth = await getFile({ node: a.node, client: ab, ref: sent.fileId });
  assert.equal(fourth.path, join(a.home.receivedDir, 'photo (1).jpg'));
  assert.equal(await readFile(first.path, 'utf8'), 'my edit');
  await assertFolder(a.home.receivedDir, ['photo.jpg', 'photo (1).jpg']);
});

test('send refuses a missing file, a folder, and a bad chunk size before contacting anyone', async (t) => {
  const { a, ab, data } = await pair(t);
  await assert.rejects(sendFile({ node: a.node, client: ab, path: join(data, 'nope.bin') }), { code: 'FILE_NOT_FOUND' });
  await assert.rejects(sendFile({ node: a.node, client: ab, path: data }), { code: 'NOT_A_FILE' });
  const path = await randomFile(data, 'x.bin', 10);
  await assert.rejects(sendFile({ node: a.node, client: ab, path, chunkSize: 100 }), { code: 'INVALID_ARGUMENT' });
});

test('connection refused: PEER_UNREACHABLE naming host and port', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const client = a.client(b);
  const port = b.server!.port;
  await b.server!.close();
  const data = await tempDir(t);
  const path = await randomFile(data, 'x.bin', 10);
  await assert.rejects(sendFile({ node: a.node, client, path }), (err: P2pfxError) => {
    assert.equal(err.code, 'PEER_UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
});

test('a peer that accepts the connection and never answers: PEER_TIMEOUT', async (t) => {
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const silent = createServer((s) => { sockets.add(s); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  const { PeerClient } = await import('../src/net/client.js');
  const port = (silent.address() as { port: number }).port;
  const client = new PeerClient({ host: '127.0.0.1', port }, a.node.creds, { connectTimeoutMs: 300 });
  t.after(() => client.close());
  await assert.rejects(client.health(), (err: P2pfxError) => {
    assert.equal(err.code, 'PEER_TIMEOUT');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
});
