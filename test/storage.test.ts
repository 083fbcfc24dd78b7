// A node's disk (issue 16): `p2pfx du` says what it holds, `p2pfx rm` forgets a file and the
// chunks only it used, `p2pfx prune` removes what no file names once past its grace period. Real
// CLI processes on real homes; the receiving node keeps serving while they run.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PeerClient } from '../src/net/client.js';
import { parsePeer } from '../src/net/peer-address.js';
import { loadCredentials } from '../src/store/credentials.js';
import { Home } from '../src/store/home.js';
import { assertCliError, cliNetwork, runCli, sha256File, startServe, type CliResult } from './helpers/cli.js';

interface Amount { count: number; bytes: number }
interface Usage { chunks: Amount; referenced: Amount & { manifests: number }; unreferenced: Amount; received: Amount; asFiles: Amount & { files: number } }

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function writeRandom(dir: string, name: string, size: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, randomBytes(size));
  return path;
}

async function chunkFiles(home: string): Promise<string[]> {
  const root = join(home, 'chunks');
  const shards = (await readdir(root)).filter((n) => /^[0-9a-f]{2}$/.test(n));
  return (await Promise.all(shards.map(async (s) => readdir(join(root, s))))).flat().sort();
}

test('du, prune and rm: what a node holds, chunks no file names removed past the grace period, a file forgotten with its chunks while the received copy stays', async (t) => {
  // report.bin is sent to beta (kept once, as the received file); notes.bin only stored there (sealed chunks).
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const report = await writeRandom(net.dir, 'report.bin', 5 * 64 * 1024);
  const notes = await writeRandom(net.dir, 'notes.bin', 3 * 64 * 1024 + 9);
  const sent = json<{ fileId: string; chunks: number }>(await runCli(t, ['send', report, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
  const stored = json<{ fileId: string }>(await runCli(t, ['send', notes, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--storage-only', '--json']));
  const received = join(net.b, 'received', 'report.bin');
  const receivedSha = await (async () => {
    for (let i = 0; i < 200; i++) {
      const sha = await sha256File(received).catch(() => null);
      if (sha !== null) return sha;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail('report.bin was not received');
  })();
  assert.equal(receivedSha, await sha256File(report));

  // A chunk no manifest names (what a send that never finished leaves behind).
  const creds = await loadCredentials(new Home(net.a));
  const client = new PeerClient(parsePeer(b.peer), creds);
  t.after(() => client.close());
  const orphan = randomBytes(4096);
  const orphanId = createHash('sha256').update(orphan).digest('hex');
  await client.putChunk(orphanId, orphan);

  const before = json<Usage>(await runCli(t, ['du', '--home', net.b, '--json']));
  assert.deepEqual([before.chunks.count, before.referenced.count, before.referenced.manifests, before.unreferenced.count], [4 + 1, 4, 2, 1]);
  assert.equal(before.unreferenced.bytes, 4096);
  assert.deepEqual([before.received.count, before.asFiles.count, before.asFiles.files], [1, 5, 1]);
  const text = await runCli(t, ['du', '--home', net.b]);
  assert.match(text.stdout, /^ {2}named by no file: 1 chunk \(4\.0 KiB\) \(`p2pfx prune` removes them\)$/m);

  // Within the grace period (a send may be on its way): kept.
  const kept = json<{ chunks: Amount; young: Amount; freedBytes: number }>(await runCli(t, ['prune', '--home', net.b, '--json']));
  assert.deepEqual([kept.chunks.count, kept.young.count, kept.freedBytes], [0, 1, 0]);
  assert.ok((await chunkFiles(net.b)).includes(orphanId));
  const pruned = await runCli(t, ['prune', '--home', net.b, '--grace', '0']);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /^Freed 4\.0 KiB: 1 chunk \(4\.0 KiB\) no file named, 0 temporary files \(0 B\)\.$/m);
  assert.ok(!(await chunkFiles(net.b)).includes(orphanId));
  assert.equal((await chunkFiles(net.b)).length, 4, 'every chunk a file names stays');

  // rm by name: its manifest goes, and the chunks its received file stood for; the file is the user's and stays.
  const rm = json<{ fileId: string; removed: Amount; stoodFor: number; receivedPath: string }>(await runCli(t, ['rm', 'report.bin', '--home', net.b, '--json']));
  assert.deepEqual([rm.fileId, rm.removed.count, rm.stoodFor, rm.receivedPath], [sent.fileId, 0, 5, received]);
  assert.equal((await chunkFiles(net.b)).length, 4);
  assert.equal(await sha256File(received), receivedSha, 'the received file is left alone');
  const after = json<Usage>(await runCli(t, ['du', '--home', net.b, '--json']));
  assert.deepEqual([after.chunks.count, after.referenced.manifests, after.asFiles.count], [4, 1, 0]);
  // The peer's catalog no longer lists it.
  const files = json<{ files: Array<{ fileId: string }> }>(await runCli(t, ['files', '--home', net.a, '--peer', b.peer, '--json']));
  assert.ok(!files.files.some((f) => f.fileId === sent.fileId));

  // rm by id of a file only stored here: its sealed chunks go.
  const rmStored = json<{ removed: Amount; stoodFor: number; receivedPath: string | null }>(await runCli(t, ['rm', stored.fileId, '--home', net.b, '--json']));
  assert.deepEqual([rmStored.removed.count, rmStored.stoodFor, rmStored.receivedPath], [4, 0, null]);
  assert.deepEqual(await chunkFiles(net.b), []);

  assert.match(assertCliError(await runCli(t, ['rm', 'report.bin', '--home', net.b]), 'MANIFEST_NOT_FOUND'), /no file named "report\.bin"/);
  assert.match(assertCliError(await runCli(t, ['rm', sent.fileId, '--home', net.b]), 'MANIFEST_NOT_FOUND'), new RegExp(`no file ${sent.fileId}`));
  assert.match(assertCliError(await runCli(t, ['prune', '--home', net.b, '--grace', 'soon']), 'INVALID_ARGUMENT'), /--grace must be a duration/);
});

test('serve --max-store: a send past the limit is refused with INSUFFICIENT_STORAGE before its chunks are written; what fits goes through', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b, '127.0.0.1', { args: ['--max-store', '300K'] });
  const big = await writeRandom(net.dir, 'big.bin', 1024 * 1024);
  const r = await runCli(t, ['send', big, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K']);
  const message = assertCliError(r, 'INSUFFICIENT_STORAGE');
  assert.match(message, /would take this node past its store limit of 300 KiB \(serve --max-store\)/);
  assert.match(r.stderr, /hint: The node that writes is full \(its disk, or its own limit set by `serve --max-store`\): free room there \(`p2pfx prune`/);
  const held = await chunkFiles(net.b);
  assert.ok(held.length <= 4, `at most 300 KiB of 64 KiB chunks kept: ${held.length}`);
  assert.deepEqual(await readdir(join(net.b, 'chunks', '.tmp')), [], 'no temporary left behind');
  assert.deepEqual(await readdir(join(net.b, 'received')), [], 'nothing half received');

  // Room made (the stranded chunks pruned): a file that fits is received whole.
  assert.equal((await runCli(t, ['prune', '--home', net.b, '--grace', '0'])).code, 0);
  const small = await writeRandom(net.dir, 'small.bin', 100 * 1024);
  const ok = await runCli(t, ['send', small, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(assertCliError(await runCli(t, ['serve', '--home', net.b, '--port', '0', '--max-store', 'lots']), 'INVALID_ARGUMENT'), /^--max-store: not a size/);
});
