// Downloads from several peers at once (127.0.0.1, .2, .3): each chunk from one peer that holds
// it; a peer that is stopped, lacks chunks or serves bad bytes loses its chunks to another.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { P2pfxError } from '../src/core/errors.js';
import { PeerClient } from '../src/net/client.js';
import { getFile, PARTIAL_DIR } from '../src/transfer/get.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';
import { relayTo } from './helpers/relay.js';

const KB = 1024;
const fileSha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

/** alpha sends one file to beta (127.0.0.2) and gamma (127.0.0.3); alpha keeps no chunks itself. */
async function spread(t: Parameters<typeof makeNetwork>[0], size: number) {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha');
  const beta = await net.add('beta', { host: '127.0.0.2' });
  const gamma = await net.add('gamma', { host: '127.0.0.3' });
  const data = await tempDir(t);
  const path = await randomFile(data, 'big.bin', size);
  const first = await sendFile({ node: alpha.node, client: alpha.client(beta), path, chunkSize: 16 * KB });
  await sendFile({ node: alpha.node, client: alpha.client(gamma), path, chunkSize: 16 * KB });
  return { alpha, beta, gamma, data, path, manifest: first.manifest };
}

test('chunks spread over two peers, neither holding all: the file comes whole from both', async (t) => {
  const { alpha, beta, gamma, data, path, manifest } = await spread(t, 40 * 16 * KB + 100);
  // beta keeps the even chunks, gamma the odd ones.
  for (const c of manifest.chunks) await (c.index % 2 === 0 ? gamma : beta).node.store.remove(c.id);
  const out = join(data, 'out');
  const r = await getFile({ node: alpha.node, clients: [alpha.client(beta), alpha.client(gamma)], ref: manifest.fileId, outDir: out, concurrency: 4 });
  assert.equal(await fileSha(r.path), await fileSha(path));
  const counts = Object.values(r.fromPeers);
  assert.deepEqual(counts.sort((a, b) => a - b), [20, 21]);
  assert.deepEqual(r.peerProblems, []);
});

test('a peer gone in the middle of a download: its chunks come from the other, the file is exact', async (t) => {
  const { alpha, beta, gamma, data, path, manifest } = await spread(t, 120 * 16 * KB);
  // gamma through a relay the test cuts at once (a server's own close takes ticks, in which a
  // loaded machine could finish the download first).
  const relay = await relayTo(t, gamma);
  const viaRelay = new PeerClient({ host: '127.0.0.1', port: relay.port }, alpha.node.creds, { expectNodeId: gamma.node.creds.nodeId });
  t.after(() => viaRelay.close());
  const out = join(data, 'out');
  const r = await getFile({
    node: alpha.node, clients: [alpha.client(beta), viaRelay], ref: manifest.fileId, outDir: out, concurrency: 4,
    onProgress: (p) => {
      if (p.doneChunks === 10) relay.cut();
    },
  });
  assert.equal(await fileSha(r.path), await fileSha(path));
  const gammaLabel = viaRelay.label;
  assert.ok(r.fromPeers[gammaLabel]! < 120, 'gamma served only part');
  assert.ok(r.peerProblems.some((p) => p.peer === gammaLabel && p.code === 'PEER_UNREACHABLE'), JSON.stringify(r.peerProblems));
  assert.deepEqual((await readdir(out)).filter((n) => n !== PARTIAL_DIR), ['big.bin']);
});

test('a peer serving corrupted chunks: reported, fetched from the other, nothing corrupt written', async (t) => {
  const { alpha, beta, gamma, data, path, manifest } = await spread(t, 30 * 16 * KB + 7);
  // Every chunk on gamma's disk is damaged (same size, other bytes).
  for (const c of manifest.chunks) await writeFile(gamma.node.store.pathOf(c.id), randomBytes(c.size));
  const out = join(data, 'out');
  const gammaLabel = alpha.client(gamma).label;
  const r = await getFile({ node: alpha.node, clients: [alpha.client(gamma), alpha.client(beta)], ref: manifest.fileId, outDir: out, concurrency: 4 });
  assert.equal(await fileSha(r.path), await fileSha(path));
  assert.equal(r.fromPeers[gammaLabel], 0, 'no chunk from gamma counts as served');
  assert.ok(r.peerProblems.length > 0 && r.peerProblems.every((p) => p.peer === gammaLabel && p.code === 'HASH_MISMATCH'), JSON.stringify(r.peerProblems.slice(0, 3)));
  assert.match(r.peerProblems[0]!.message, /served chunk [0-9a-f]{64} with bytes that do not match its id/);
});

test('when no peer holds some chunk, the download fails with CHUNK_NOT_FOUND and keeps a resumable partial', async (t) => {
  const { alpha, beta, gamma, data, manifest } = await spread(t, 10 * 16 * KB);
  const lost = manifest.chunks[6]!.id;
  await beta.node.store.remove(lost);
  await gamma.node.store.remove(lost);
  const out = join(data, 'out');
  await assert.rejects(getFile({ node: alpha.node, clients: [alpha.client(beta), alpha.client(gamma)], ref: manifest.fileId, outDir: out, concurrency: 2 }), (err: P2pfxError) => {
    assert.equal(err.code, 'CHUNK_NOT_FOUND');
    assert.match(err.message, new RegExp(lost));
    return true;
  });
  assert.deepEqual((await readdir(out)).filter((n) => n !== PARTIAL_DIR), [], 'nothing under a final name');
  assert.deepEqual(await readdir(join(out, PARTIAL_DIR)), [`${manifest.fileId}.part`]);
});

test('two downloads of one file into one folder at once: the second is TRANSFER_BUSY, the first completes', async (t) => {
  const { alpha, beta, data, path, manifest } = await spread(t, 100 * 16 * KB);
  const out = join(data, 'out');
  let second: Promise<unknown> | null = null;
  const first = await getFile({
    node: alpha.node, client: alpha.client(beta), ref: manifest.fileId, outDir: out, concurrency: 1,
    // Started while the first is writing: it finds the file taken.
    onProgress: () => {
      second ??= getFile({ node: alpha.node, client: alpha.client(beta), ref: manifest.fileId, outDir: out }).catch((err: unknown) => err);
    },
  });
  const refused = (await (second as Promise<unknown> | null)) as P2pfxError;
  assert.equal(refused.code, 'TRANSFER_BUSY', String(refused));
  assert.match(refused.message, new RegExp(`already being written into this folder by p2pfx process ${process.pid}`));
  assert.equal(await fileSha(first.path), await fileSha(path));
  assert.deepEqual(await readdir(out), ['big.bin'], 'no lock or partial left behind');
});

test('the catalog across peers: one entry per file id naming the peers that hold it; an unreachable peer is listed, not fatal', async (t) => {
  const { alpha, beta, gamma, manifest } = await spread(t, 3 * 16 * KB);
  const { listCatalogAcross } = await import('../src/transfer/catalog.js');
  const { PeerClient } = await import('../src/net/client.js');
  const gone = new PeerClient({ host: '127.0.0.1', port: 1 }, alpha.node.creds);
  t.after(() => gone.close());
  const merged = await listCatalogAcross([alpha.client(beta), alpha.client(gamma), gone], alpha.node.creds);
  assert.equal(merged.files.length, 1);
  assert.equal(merged.files[0]!.fileId, manifest.fileId);
  assert.equal(merged.files[0]!.name, 'big.bin');
  assert.deepEqual(merged.files[0]!.peers, [alpha.client(beta).label, alpha.client(gamma).label]);
  assert.deepEqual(merged.unreachable.map((u) => [u.peer, u.code]), [['127.0.0.1:1', 'PEER_UNREACHABLE']]);
});
