// A home made by p2pfx 0.1.0 — its index written by better-sqlite3 on Node 20 — opens with this
// version's node:sqlite index and keeps every row: the catalog, the send journal, the peer book,
// the certificates issued and revoked, the CRL facts, the invites. And the two homes still work
// together as nodes: a file sent then is downloaded now, its bytes equal.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { IndexDb } from '../src/store/index-db.js';
import { InviteBook, inviteState } from '../src/store/invite-book.js';
import { repoRoot, runCli, startServe, tempHome } from './helpers/cli.js';

const FIXTURE = join(repoRoot, 'test/fixtures/home-0.1.0');

/** The fixture copied into a temp dir (git keeps no modes: keys back to 0600). */
async function oldHomes(t: Parameters<typeof tempHome>[0]): Promise<{ alpha: string; beta: string }> {
  const dir = await tempHome(t, 'p2pfx-upgrade-');
  await cp(FIXTURE, dir, { recursive: true });
  for (const home of ['alpha', 'beta']) {
    for (const name of await readdir(join(dir, home, 'certs'))) {
      if (name.endsWith('key.pem')) await chmod(join(dir, home, 'certs', name), 0o600);
    }
  }
  return { alpha: join(dir, 'alpha'), beta: join(dir, 'beta') };
}

test('an index written by p2pfx 0.1.0 (better-sqlite3) opens with node:sqlite and keeps every row', async (t) => {
  const { alpha, beta } = await oldHomes(t);

  const a = new IndexDb(join(alpha, 'p2pfx.db'));
  t.after(() => a.close());
  const issued = a.listIssued();
  assert.deepEqual(issued.map((c) => [c.name, c.revokedAt === null]), [['alpha', true], ['beta', true], ['gamma', false]]);
  assert.match(issued[1]!.certPem, /^-----BEGIN CERTIFICATE-----/);
  const peers = a.listPeers();
  assert.equal(peers.length, 1);
  assert.equal(peers[0]!.name, 'beta');
  assert.deepEqual(peers[0]!.addresses.map((x) => `${x.host}:${x.port}`), ['127.0.0.1:18443']);
  // The journal of data.bin (16 KiB chunks: 3 sealed) and its sealed chunk ids.
  const journal = a.getJournal('/tmp/fx/data.bin', 16 * 1024);
  assert.ok(journal, 'journal entry kept');
  assert.equal(journal.size, 40_000);
  assert.match(journal.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(a.sealedChunks(journal.fileId).size, 3);
  // The CRL facts cached under the PEM's digest.
  const crlPem = await readFile(join(alpha, 'certs', 'crl.pem'), 'utf8');
  const facts = a.crlFacts(createHash('sha256').update(crlPem).digest('hex'));
  assert.ok(facts, 'CRL facts kept');
  assert.equal((JSON.parse(facts) as { number: string }).number, '2');

  const b = new IndexDb(join(beta, 'p2pfx.db'));
  t.after(() => b.close());
  const manifests = b.listManifests();
  assert.equal(manifests.length, 5, 'note, data, two folder members and the folder index');
  for (const m of manifests) assert.equal(m.version, 1);
  const received = manifests.map((m) => b.receivedPath(m.fileId)).filter((p) => p !== null).sort();
  assert.deepEqual(received, ['data.bin', 'folder', 'folder/a.txt', 'folder/sub/b.txt', 'note.txt'].map((p) => `/tmp/fx/beta/received/${p}`));
  // alpha downloaded note.txt back: its received_files row, under the same file id.
  const note = manifests.find((m) => b.receivedPath(m.fileId) === '/tmp/fx/beta/received/note.txt')!;
  assert.equal(a.receivedPath(note.fileId), '/tmp/fx/alpha/dl/note.txt');

  // Written again by the new code, read back after a reopen.
  b.setSetting('upgrade-check', 'yes');
  b.close();
  const b2 = new IndexDb(join(beta, 'p2pfx.db'));
  t.after(() => b2.close());
  assert.equal(b2.getSetting('upgrade-check'), 'yes');
  assert.equal(b2.listManifests().length, 5);

  // The invite's code key comes back as the 32 bytes it was (a BLOB).
  const invites = new InviteBook(join(alpha, 'p2pfx.db'));
  t.after(() => invites.close());
  const [invite] = invites.list();
  assert.ok(invite);
  assert.ok(Buffer.isBuffer(invite.secret));
  assert.equal(invite.secret.length, 32);
  assert.equal(inviteState(invite, new Date('2030-01-01')), 'expired');
});

test('two homes made by p2pfx 0.1.0 still work as nodes: certs list, peers, and a get of a file sent then', async (t) => {
  const { alpha, beta } = await oldHomes(t);
  const list = await runCli(t, ['certs', 'list', '--home', alpha, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const certs = (JSON.parse(list.stdout) as { certificates: Array<{ name: string; revokedAt: string | null }> }).certificates;
  assert.deepEqual(certs.map((c) => [c.name, c.revokedAt !== null]), [['alpha', false], ['beta', false], ['gamma', true]]);

  const served = await startServe(t, beta);
  const out = join(alpha, 'downloads');
  // data.bin was sent with a password envelope: the old key envelope opens with the new code.
  const got = await runCli(t, ['get', 'data.bin', '--home', alpha, '--peer', served.peer, '--password', 'fixture pw', '--out', out, '--json']);
  assert.equal(got.code, 0, got.stderr);
  const sent = await readFile(join(beta, 'received', 'data.bin'));
  assert.deepEqual(await readFile(join(out, 'data.bin')), sent);
  assert.equal(sent.length, 40_000);
});
