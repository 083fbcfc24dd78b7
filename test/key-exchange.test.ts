// Files addressed to a node: the sender wraps the data key for the receiving node (x25519), the
// receiving node reassembles the file on its own, and a node without an envelope reads nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { P2pfxError } from '../src/core/errors.js';
import type { X25519Envelope } from '../src/core/envelope.js';
import { getFile, receiveFile, PARTIAL_DIR } from '../src/transfer/get.js';
import { Inbox, type InboxEvent } from '../src/transfer/inbox.js';
import { startNode } from '../src/node/run-node.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';

const KB = 1024;
const fileSha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
const finalNames = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n !== PARTIAL_DIR).sort();

test('send wraps the key for the peer and for the sender; the peer reassembles the file on its own, no password anywhere', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const data = await tempDir(t);
  const path = await randomFile(data, 'report.pdf', 300 * KB + 7);
  const ab = a.client(b);

  const sent = await sendFile({ node: a.node, client: ab, path, chunkSize: 64 * KB });
  assert.equal(sent.recipient?.nodeId, b.node.creds.nodeId);
  assert.equal(sent.recipient?.name, 'beta');
  const recipients = sent.manifest.envelopes.map((e) => (e as X25519Envelope).recipient).sort();
  assert.deepEqual(recipients, [a.node.creds.nodeId, b.node.creds.nodeId].sort());
  assert.ok(sent.manifest.envelopes.every((e) => e.type === 'x25519'), 'no password envelope unless asked');

  await b.server!.inbox!.idle();
  assert.deepEqual(await finalNames(b.home.receivedDir), ['report.pdf']);
  assert.equal(await fileSha(join(b.home.receivedDir, 'report.pdf')), await fileSha(path));
  assert.equal(b.node.db.receivedPath(sent.fileId), join(b.home.receivedDir, 'report.pdf'));
});

test('sending the same file again does not write a second copy on the receiving node', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const data = await tempDir(t);
  const path = await randomFile(data, 'same.bin', 100 * KB);
  const ab = a.client(b);
  await sendFile({ node: a.node, client: ab, path, chunkSize: 32 * KB });
  await b.server!.inbox!.idle();
  const again = await sendFile({ node: a.node, client: ab, path, chunkSize: 32 * KB });
  assert.equal(again.sentChunks, 0);
  await b.server!.inbox!.idle();
  assert.deepEqual(await finalNames(b.home.receivedDir), ['same.bin']);
});

test('a newer version from the same sender replaces the copy here once whole; a copy edited here is never overwritten, the new one lands beside it', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const data = await tempDir(t);
  const source = join(data, 'notes.txt');
  const ab = a.client(b);
  const here = join(b.home.receivedDir, 'notes.txt');

  await writeFile(source, 'version one\n');
  const v1 = await sendFile({ node: a.node, client: ab, path: source, chunkSize: 32 * KB });
  await b.server!.inbox!.idle();
  assert.equal(await readFile(here, 'utf8'), 'version one\n');

  await writeFile(source, 'version two, longer\n');
  const v2 = await sendFile({ node: a.node, client: ab, path: source, chunkSize: 32 * KB });
  assert.notEqual(v2.fileId, v1.fileId);
  await b.server!.inbox!.idle();
  assert.deepEqual(await finalNames(b.home.receivedDir), ['notes.txt'], 'updated in place, no copy');
  assert.equal(await readFile(here, 'utf8'), 'version two, longer\n');
  assert.equal(b.node.db.receivedPath(v2.fileId), here);

  // The user edits the copy here; the sender's next version must not erase that.
  await writeFile(here, 'my own notes\n');
  await writeFile(source, 'version three\n');
  await sendFile({ node: a.node, client: ab, path: source, chunkSize: 32 * KB });
  await b.server!.inbox!.idle();
  assert.deepEqual(await finalNames(b.home.receivedDir), ['notes (1).txt', 'notes.txt']);
  assert.equal(await readFile(here, 'utf8'), 'my own notes\n', 'the local edit is kept');
  assert.equal(await readFile(join(b.home.receivedDir, 'notes (1).txt'), 'utf8'), 'version three\n');
});

test('a node holding the chunks and the manifest without an envelope for it cannot read the file', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const c = await net.add('gamma', { serve: false });
  const data = await tempDir(t);
  // Recognisable plaintext, so that any copy of it in the storage node's files would show.
  const marker = Buffer.from('P2PFX-PLAINTEXT-MARKER-');
  const path = join(data, 'secret.txt');
  await writeFile(path, Buffer.concat(Array.from({ length: 4000 }, () => marker)));

  // Storage only: beta stores the chunks and the manifest but gets no key.
  const sent = await sendFile({ node: a.node, client: a.client(b), path, chunkSize: 16 * KB, peerKey: false });
  assert.equal(sent.recipient, null);
  assert.deepEqual(sent.manifest.envelopes.map((e) => (e as X25519Envelope).recipient), [a.node.creds.nodeId]);
  await b.server!.inbox!.idle();
  assert.deepEqual(await finalNames(b.home.receivedDir), [], 'nothing reassembled on a storage node');
  await assert.rejects(receiveFile({ node: b.node, manifest: sent.manifest }), (err: P2pfxError) => {
    assert.equal(err.code, 'NO_KEY');
    assert.match(err.message, /not sent to this node/);
    return true;
  });
  assert.deepEqual(await finalNames(b.home.receivedDir), []);
  for (const id of (await b.node.store.list('', 1000)).map((x) => x.id)) {
    assert.equal((await b.node.store.read(id)).includes(marker), false, `chunk ${id} holds plaintext`);
  }
  assert.equal((await readFile(b.home.dbPath)).includes(Buffer.from('secret.txt')), false, 'the file name is sealed in the manifest');

  // A third node fetching from the storage node fares no better.
  await assert.rejects(getFile({ node: c.node, client: c.client(b), ref: sent.fileId, outDir: join(data, 'out') }), (err: P2pfxError) => err.code === 'NO_KEY');
  assert.deepEqual(await finalNames(join(data, 'out')), []);
});

test('a file sent to a node that was not running its inbox is reassembled when the node starts', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const data = await tempDir(t);
  const path = await randomFile(data, 'late.bin', 70 * KB);
  const sent = await sendFile({ node: a.node, client: a.client(b), path, chunkSize: 16 * KB });
  assert.deepEqual(await finalNames(b.home.receivedDir), []);
  await b.server!.close();
  const events: InboxEvent[] = [];
  const again = await startNode(b.node, { host: '127.0.0.1', port: 0, inbox: { onEvent: (e) => events.push(e) } });
  t.after(() => again.close());
  await again.inbox!.idle();
  assert.deepEqual(events.map((e) => [e.type, e.fileId]), [['received', sent.fileId]]);
  assert.equal(await fileSha(join(b.home.receivedDir, 'late.bin')), await fileSha(path));
});

test('a manifest addressed to the node whose chunks are not all there: reported, nothing under a final name', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const data = await tempDir(t);
  const path = await randomFile(data, 'orphan.bin', 50 * KB);
  const sent = await sendFile({ node: a.node, client: a.client(b), path, chunkSize: 16 * KB });
  await b.node.store.remove(sent.manifest.chunks[1]!.id);
  const events: InboxEvent[] = [];
  const inbox = new Inbox(b.node, (e) => events.push(e));
  inbox.offer(sent.manifest);
  await inbox.idle();
  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.equal(e.type, 'failed');
  assert.equal(e.type === 'failed' ? e.code : '', 'CHUNK_NOT_FOUND');
  assert.equal(e.senderName, 'alpha');
  assert.deepEqual(await finalNames(b.home.receivedDir), []);
  assert.equal(b.node.db.receivedPath(sent.fileId), null);
});

test('a file whose sender was revoked after it arrived is not reassembled', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const data = await tempDir(t);
  const path = await randomFile(data, 'before-revocation.bin', 40 * KB);
  const sent = await sendFile({ node: a.node, client: a.client(b), path, chunkSize: 16 * KB });
  const serial = (await import('../src/pki/cert-pem.js')).readCertPem(a.node.creds.certPem).serialNumber;
  await b.node.revocation.take(await (await import('../src/pki/crl.js')).createCrl(net.ca, { number: 2, revoked: [{ serialHex: serial, revokedAt: new Date() }] }));
  const events: InboxEvent[] = [];
  const inbox = new Inbox(b.node, (e) => events.push(e));
  inbox.catchUp();
  await inbox.idle();
  assert.deepEqual(events.map((e) => [e.type, e.fileId, e.type === 'failed' ? e.code : '']), [['failed', sent.fileId, 'BAD_MANIFEST']]);
  assert.match((events[0] as { message: string }).message, /revoked/);
  assert.deepEqual(await finalNames(b.home.receivedDir), []);
});
