// Disk used once (issue 16): a file sent to a node is kept once, as the file. Its sealed chunks
// leave the store once it is reassembled; the node still serves them, each made again from the
// file and checked against its id; a file edited since stands for nothing. Real CLI processes on
// real homes, a third node fetching over mTLS.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertCliError, cliNetwork, runCli, sha256File, startServe, storedChunks, type CliResult, type ServingNode } from './helpers/cli.js';

const CHUNK = 64 * 1024;
const SIZE = 5 * CHUNK + 9;
const PASSWORD = 'correct horse battery staple';

interface Amount { count: number; bytes: number }
interface Usage { chunks: Amount; asFiles: Amount & { files: number; edited: number } }
interface Sent { fileId: string; chunks: number; sentChunks: number }

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** alpha sends a random file to beta (serving) with a password envelope too, so gamma can get it from beta. */
async function sentToBeta(t: TestContext): Promise<{ net: Awaited<ReturnType<typeof cliNetwork>>; gamma: string; b: ServingNode; src: string; received: string; sent: Sent; send: () => Promise<Sent> }> {
  const net = await cliNetwork(t);
  const gamma = await net.issue('gamma');
  const b = await startServe(t, net.b);
  const src = join(net.dir, 'film.bin');
  await writeFile(src, randomBytes(SIZE));
  const send = async () => json<Sent>(await runCli(t, ['send', src, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--password', PASSWORD, '--json']));
  const sent = await send();
  await b.cli.waitFor(/"event":"received"[^\n]*"name":"film\.bin"/);
  const received = join(net.b, 'received', 'film.bin');
  assert.equal(await sha256File(received), await sha256File(src));
  return { net, gamma, b, src, received, sent, send };
}

function getFromBeta(t: TestContext, gamma: string, b: ServingNode, fileId: string, out: string, opts: { json?: boolean } = {}): Promise<CliResult> {
  return runCli(t, ['get', fileId, '--home', gamma, '--peer', b.peer, '--password', PASSWORD, '--out', out, ...(opts.json === false ? [] : ['--json'])]);
}

test('a file sent to a node is kept once, as the file: no sealed chunk stays, the node still serves every chunk, a resend moves nothing', async (t) => {
  const { net, gamma, b, src, sent, send } = await sentToBeta(t);
  assert.equal(sent.chunks, 6);
  assert.deepEqual(await storedChunks(net.b), [], 'the sealed chunks left the store once the file was in place');
  const du = json<Usage>(await runCli(t, ['du', '--home', net.b, '--json']));
  assert.deepEqual([du.chunks.count, du.asFiles.count, du.asFiles.files, du.asFiles.edited], [0, 6, 1, 0]);
  assert.equal(du.asFiles.bytes, SIZE + 6 * 29, 'the blobs it stands for: the plaintext plus 29 bytes each');
  assert.match((await runCli(t, ['du', '--home', net.b])).stdout, /^ {2}standing for 6 chunks \(320 KiB\) of 1 file sent here: kept once, as the file$/m);

  // gamma fetches every chunk from beta: each made again from beta's file, checked by gamma against its id.
  const out = join(net.dir, 'got');
  const got = json<{ fetchedChunks: number; path: string }>(await getFromBeta(t, gamma, b, sent.fileId, out));
  assert.equal(got.fetchedChunks, 6);
  assert.equal(await sha256File(got.path), await sha256File(src));

  // alpha sends it again: beta holds every chunk (as the file), so nothing moves and nothing is stored twice.
  const again = await send();
  assert.deepEqual([again.fileId, again.sentChunks], [sent.fileId, 0]);
  assert.deepEqual(await storedChunks(net.b), []);
});

test('a received file edited since stands for nothing: its chunks are not served, a get says the peer lacks them, a resend brings them back and the edit stays', async (t) => {
  const { net, gamma, b, src, received, sent, send } = await sentToBeta(t);
  // An edit that keeps the size and even the mtime: only the bytes show it.
  const before = await stat(received);
  const fh = await open(received, 'r+');
  await fh.write(Buffer.from('edited here'), 0, 11, 2 * CHUNK + 100);
  await fh.close();
  await utimes(received, before.atime, before.mtime);
  const edited = await sha256File(received);

  const failed = await getFromBeta(t, gamma, b, sent.fileId, join(net.dir, 'got'), { json: false });
  assert.match(assertCliError(failed, 'CHUNK_NOT_FOUND'), new RegExp(`no peer that is still reachable holds chunk [0-9a-f]{64} \\(asked ${b.peer}\\)`));
  assert.deepEqual(await storedChunks(gamma), []);
  const du = json<Usage>(await runCli(t, ['du', '--home', net.b, '--json']));
  assert.deepEqual([du.asFiles.count, du.asFiles.files], [0, 0], 'the file stands for none of its chunks any more');

  // The sender sends again: every chunk is missing at beta now, so all come, sealed; the edit is kept.
  const again = await send();
  assert.equal(again.sentChunks, 6);
  assert.equal((await storedChunks(net.b)).length, 6);
  assert.equal(await sha256File(received), edited, 'the local edit is never overwritten');
  // gamma's get resumes from what it checked before the failure (the chunks before the edited one).
  const got = json<{ fetchedChunks: number; resumedChunks: number; path: string }>(await getFromBeta(t, gamma, b, sent.fileId, join(net.dir, 'got')));
  assert.equal(got.fetchedChunks + got.resumedChunks, 6);
  assert.ok(got.resumedChunks <= 2, `resumed ${got.resumedChunks}`);
  assert.equal(await sha256File(got.path), await sha256File(src));
});

test('an ordinary edit (new mtime) shows at once, prune forgets what an edited file stood for, rm forgets a file and leaves it in place', async (t) => {
  const { net, gamma, b, received, sent } = await sentToBeta(t);
  await writeFile(received, 'rewritten by its owner\n');
  const du = json<Usage>(await runCli(t, ['du', '--home', net.b, '--json']));
  assert.deepEqual([du.asFiles.files, du.asFiles.edited], [1, 1]);
  assert.match((await runCli(t, ['du', '--home', net.b])).stdout, /1 edited since, whose chunks are no longer served \(`p2pfx prune` forgets them\)/);
  const pruned = await runCli(t, ['prune', '--home', net.b]);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /^ {2}1 received file edited, moved or removed since: 6 chunks no longer served from it$/m);
  assert.equal(json<Usage>(await runCli(t, ['du', '--home', net.b, '--json'])).asFiles.files, 0);
  assert.match(assertCliError(await getFromBeta(t, gamma, b, sent.fileId, join(net.dir, 'got'), { json: false }), 'CHUNK_NOT_FOUND'), /no peer that is still reachable holds chunk/);

  // rm of a file that still stands for its chunks: they are no longer served; the file stays.
  const second = join(net.dir, 'second.bin');
  await writeFile(second, randomBytes(3 * CHUNK + 1));
  const s2 = json<Sent>(await runCli(t, ['send', second, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
  await b.cli.waitFor(/"event":"received"[^\n]*"name":"second\.bin"/);
  const rm = json<{ fileId: string; stoodFor: number; removed: Amount; receivedPath: string }>(await runCli(t, ['rm', 'second.bin', '--home', net.b, '--json']));
  assert.deepEqual([rm.fileId, rm.stoodFor, rm.removed.count, rm.receivedPath], [s2.fileId, 4, 0, join(net.b, 'received', 'second.bin')]);
  assert.equal(await sha256File(rm.receivedPath), await sha256File(second));
  assert.equal(json<Usage>(await runCli(t, ['du', '--home', net.b, '--json'])).asFiles.files, 0);
});
