// The send use case (transfer/send-to-peers.ts) that the CLI, the menu and the UI share: real
// nodes on 127.0.0.1, a real unreachable port, real files.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { PeerClient } from '../src/net/client.js';
import { CryptoPool } from '../src/transfer/crypto-pool.js';
import { sendFileToMany } from '../src/transfer/send.js';
import { sendToPeers } from '../src/transfer/send-to-peers.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';

/** A client for a port on 127.0.0.1 where nothing listens (made free, then closed). */
async function deadPeer(creds: ConstructorParameters<typeof PeerClient>[1]): Promise<PeerClient> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return new PeerClient({ host: '127.0.0.1', port }, creds);
}

test('send to several peers: an unreachable one gets its error, the others still get the file; one manifest names every recipient reached', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const c = await net.add('gamma', { inbox: true });
  const dead = await deadPeer(a.node.creds);
  t.after(() => dead.close());
  const file = await randomFile(await tempDir(t), 'many.bin', 300_000);
  const runs = await sendToPeers({ node: a.node, clients: [dead, a.client(b), a.client(c)], path: file, chunkSize: 64 * 1024 });
  assert.deepEqual(runs.map((r) => [r.client.label, r.ok]), [[dead.label, false], [`127.0.0.1:${b.server!.port}`, true], [`127.0.0.1:${c.server!.port}`, true]]);
  const failed = runs[0]!;
  assert.ok(!failed.ok && failed.error.code === 'PEER_UNREACHABLE', JSON.stringify(!failed.ok && failed.error));
  const sent = runs.flatMap((r) => (r.ok && r.file ? [r.file] : []));
  assert.equal(sent.length, 2);
  assert.equal(sent[0]!.fileId, sent[1]!.fileId, 'the same file id for every peer (one key, journaled)');
  // beta's manifest names gamma too (recipients gathered once), so either can open what it holds.
  const recipients = sent[0]!.manifest.envelopes.flatMap((e) => (e.type === 'x25519' ? [e.recipient] : []));
  for (const n of [b, c]) assert.ok(recipients.includes(n.node.creds.nodeId), `an envelope for ${n.node.creds.nodeId}`);
  for (const n of [b, c]) {
    await n.server!.inbox!.idle();
    assert.ok(n.node.db.getManifest(sent[0]!.fileId), `${n.home.root} holds the manifest`);
  }
});

test('send to several peers: a failure of this machine (no such file) stops before any peer is asked; a single failing peer is thrown', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const dead = await deadPeer(a.node.creds);
  t.after(() => dead.close());
  const dir = await tempDir(t);
  await assert.rejects(sendToPeers({ node: a.node, clients: [a.client(b), dead], path: `${dir}/nothing-here.bin` }), { code: 'FILE_NOT_FOUND' });
  assert.deepEqual(b.node.db.listManifests(), [], 'beta was sent nothing');
  const file = await randomFile(dir, 'one.bin', 1000);
  await assert.rejects(sendToPeers({ node: a.node, clients: [dead], path: file }), { code: 'PEER_UNREACHABLE' });
});

test('a file to four peers at once: read and sealed once, one manifest on all; a peer stopped mid-way gets its error, the others the whole file', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const peers = [];
  for (const [i, name] of ['beta', 'gamma', 'delta', 'epsilon'].entries()) peers.push(await net.add(name, { host: `127.0.0.${i + 2}` }));
  const file = await randomFile(await tempDir(t), 'wide.bin', 40 * 64 * 1024 + 3);
  // A real pool, its sealing counted.
  const pool = new CryptoPool();
  t.after(() => pool.close());
  let seals = 0;
  const fileSealer = pool.fileSealer.bind(pool);
  pool.fileSealer = (...args: Parameters<typeof fileSealer>) => {
    const sealer = fileSealer(...args);
    const readSeal = sealer.readSeal.bind(sealer);
    sealer.readSeal = (...more: Parameters<typeof readSeal>) => {
      seals++;
      return readSeal(...more);
    };
    return sealer;
  };
  const clients = peers.map((p) => a.client(p));
  const stopped = peers[3]!;
  let stopping: Promise<void> | null = null;
  const outcomes = await sendFileToMany({
    node: a.node, clients, path: file, chunkSize: 64 * 1024, pool, peerKey: false,
    progressFor: (client) => (p) => {
      if (client === clients[3] && p.doneChunks === 8 && stopping === null) stopping = stopped.server!.close();
    },
  });
  await stopping;
  const chunkCount = 41;
  assert.equal(seals, chunkCount, 'each chunk read and sealed once, for all four peers');
  assert.deepEqual(outcomes.map((o) => o.ok), [true, true, true, false]);
  const last = outcomes[3]!;
  assert.ok(!last.ok && ['PEER_UNREACHABLE', 'PEER_TIMEOUT'].includes(last.error.code), JSON.stringify(!last.ok && last.error));
  const manifests = outcomes.flatMap((o) => (o.ok ? [o.result.manifest] : []));
  for (const [i, m] of manifests.entries()) {
    assert.deepEqual(m, manifests[0], 'one manifest for all');
    assert.equal(outcomes[i]!.ok && outcomes[i]!.result.sentChunks, chunkCount);
    const held = peers[i]!.node.db.getManifest(m.fileId);
    assert.ok(held, `${peers[i]!.home.root} holds the manifest`);
    assert.deepEqual(await peers[i]!.node.store.missing(m.chunks.map((c) => c.id)), [], 'and every chunk');
  }
});
