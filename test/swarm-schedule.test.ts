// The swarm scheduler (transfer/bulk-fetch.ts) against a holder that goes silent: real nodes on
// 127.0.0.x, and between the getter and one holder a real TCP relay that, on a connection that
// has carried chunks, stops passing the holder's bytes (its socket stays open: no error, no
// close). The download must not wait on it: the chunks it owes are asked of the other holder
// (end-game), long before any timeout could say the silent one is gone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PeerClient } from '../src/net/client.js';
import { getFile } from '../src/transfer/get.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';
import { relayTo } from './helpers/relay.js';

const KB = 1024;
const fileSha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

test('a holder that goes silent mid-download: its chunks are asked of the other holder, the download never waits for a timeout', { timeout: 120_000 }, async (t) => {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha');
  const beta = await net.add('beta', { host: '127.0.0.2' });
  const gamma = await net.add('gamma', { host: '127.0.0.3' });
  const data = await tempDir(t);
  const path = await randomFile(data, 'big.bin', 96 * 64 * KB + 5);
  const { manifest } = await sendFile({ node: alpha.node, client: alpha.client(beta), path, chunkSize: 64 * KB, peerKey: false });
  await sendFile({ node: alpha.node, client: alpha.client(gamma), path, chunkSize: 64 * KB, peerKey: false });
  // Nothing of the file stays on alpha: every chunk comes from beta or gamma.
  for (const c of manifest.chunks) await alpha.node.store.remove(c.id);

  // gamma, seen through the relay: a few chunks, then silence. Its idle timeout is far beyond the
  // test's bound, so only the scheduler can get the download done.
  const relay = await relayTo(t, gamma, { budget: 300 * KB });
  const silent = new PeerClient({ host: '127.0.0.1', port: relay.port }, alpha.node.creds, { idleTimeoutMs: 600_000, expectNodeId: gamma.node.creds.nodeId });
  t.after(() => silent.close());
  const out = join(data, 'out');
  // gamma first: with no speeds known yet, the first chunks go to it.
  const r = await getFile({ node: alpha.node, clients: [silent, alpha.client(beta)], ref: manifest.fileId, outDir: out, concurrency: 4 });

  assert.equal(await fileSha(r.path), await fileSha(path));
  assert.ok(relay.stalled() >= 1, 'the relay did hold a stream of chunks');
  assert.deepEqual(r.peerProblems, [], 'gamma was never failed for it: its chunks simply came from beta');
  const fromBeta = r.fromPeers[alpha.client(beta).label]!;
  const fromGamma = r.fromPeers[silent.label] ?? 0;
  assert.equal(fromBeta + fromGamma, manifest.chunkCount, 'each chunk counted once, from the holder that delivered it');
  assert.ok(fromGamma < manifest.chunkCount / 2, `the silent holder delivered only what it passed before going silent (${fromGamma})`);
});
