// The fetch use case (transfer/fetch.ts) shared by the CLI and the UI: a reference resolved once,
// a password derived once, then the file or the folder downloaded. Real nodes on 127.0.0.1.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { forgetDerivedKeys, scryptDerivations } from '../src/core/envelope.js';
import { PeerClient } from '../src/net/client.js';
import { resolveTarget } from '../src/transfer/catalog.js';
import { fetchTarget } from '../src/transfer/fetch.js';
import { sendFolder } from '../src/transfer/folder-send.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';

const PASSWORD = 'correct horse battery staple';
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

/** Counts the catalog listings any client asks for (over the wire) until the test ends. */
function countListings(t: TestContext): { count: number } {
  const counter = { count: 0 };
  const list = PeerClient.prototype.listManifests;
  PeerClient.prototype.listManifests = function (this: PeerClient, ...args: Parameters<typeof list>) {
    counter.count++;
    return list.apply(this, args);
  };
  t.after(() => {
    PeerClient.prototype.listManifests = list;
  });
  return counter;
}

test('get by name with a password: one catalog pass across the peers, one key derivation, file and folder alike', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  const c = await net.add('gamma', { serve: false });
  const data = await tempDir(t);
  const file = await randomFile(data, 'report.bin', 200_000);
  const dir = join(data, 'album');
  await mkdir(join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(dir, 'sub', `p${i}.txt`), `photo ${i}`);
  // Stored on beta with a password envelope only: gamma opens them with the password, nothing else.
  await sendFile({ node: a.node, client: a.client(b), path: file, password: PASSWORD, peerKey: false, chunkSize: 64 * 1024 });
  await sendFolder({ node: a.node, client: a.client(b), dir, password: PASSWORD, peerKey: false });

  // Count what gamma asks: catalog listings (over the wire) and scrypt derivations.
  const listings = countListings(t);
  const out = await tempDir(t);
  for (const [ref, kind] of [['report.bin', 'file'], ['album', 'folder']] as const) {
    forgetDerivedKeys();
    listings.count = 0;
    const derivedBefore = scryptDerivations();
    const clients = [c.client(b)];
    const target = await resolveTarget(clients, c.node.creds, ref, PASSWORD);
    assert.equal(target.kind, kind);
    const got = await fetchTarget(target, { node: c.node, clients, password: PASSWORD, outDir: out });
    assert.equal(listings.count, 1, `${ref}: the catalog was read once`);
    assert.equal(scryptDerivations() - derivedBefore, 1, `${ref}: the password was derived once`);
    if (got.kind === 'file') assert.equal(await sha(got.file.path), await sha(file));
    else assert.equal(await readFile(join(got.folder.path, 'sub', 'p3.txt'), 'utf8'), 'photo 3');
  }
});

test('get by file id with a password from three holders: no catalog is read, the password is derived once, file and folder alike', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const holders = [await net.add('beta', { host: '127.0.0.2' }), await net.add('gamma', { host: '127.0.0.3' }), await net.add('delta', { host: '127.0.0.4' })];
  const getter = await net.add('epsilon', { serve: false });
  const data = await tempDir(t);
  const dir = join(data, 'album');
  await mkdir(dir);
  for (let i = 0; i < 3; i++) await writeFile(join(dir, `p${i}.txt`), `photo ${i}`);
  // Each holder's catalog also holds password files of other sends (each its own salt): a
  // listing with the password would derive a key for each of them.
  const ids: Record<string, string> = {};
  for (const [n, h] of holders.entries()) {
    for (let k = 0; k < 3; k++) {
      forgetDerivedKeys();
      await sendFile({ node: a.node, client: a.client(h), path: await randomFile(data, `other-${n}-${k}.bin`, 1000), password: PASSWORD, peerKey: false });
    }
  }
  forgetDerivedKeys();
  const file = await randomFile(data, 'report.bin', 300_000);
  for (const h of holders) ids.file = (await sendFile({ node: a.node, client: a.client(h), path: file, password: PASSWORD, peerKey: false, chunkSize: 64 * 1024 })).fileId;
  for (const h of holders) ids.folder = (await sendFolder({ node: a.node, client: a.client(h), dir, password: PASSWORD, peerKey: false })).folderFileId;

  const listings = countListings(t);
  const clients = holders.map((h) => getter.client(h));
  for (const kind of ['file', 'folder'] as const) {
    forgetDerivedKeys();
    listings.count = 0;
    const before = scryptDerivations();
    const target = await resolveTarget(clients, getter.node.creds, ids[kind]!, PASSWORD);
    assert.deepEqual([target.kind, target.name], [kind, kind === 'file' ? 'report.bin' : 'album']);
    const got = await fetchTarget(target, { node: getter.node, clients, password: PASSWORD, outDir: join(data, `out-${kind}`) });
    assert.equal(listings.count, 0, `${kind}: no catalog was read`);
    assert.equal(scryptDerivations() - before, 1, `${kind}: the password was derived once for three holders`);
    if (got.kind === 'file') assert.equal(await sha(got.file.path), await sha(file));
    else assert.equal(await readFile(join(got.folder.path, 'p2.txt'), 'utf8'), 'photo 2');
  }
});
