// Faults (issue 8): a node killed in the middle of a transfer, a chunk rotting on disk, a full
// disk, peers that stall. Real `p2pfx` processes on 127.0.0.1, real files. Every fault must end
// in a clear error (code and message), lose nothing and leave nothing half-written under a final
// name; and the next run must finish the job, moving only what is still missing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { connect as connectTls, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  assertCliError, assertNoStack, assertNothingWritten, cliNetwork, listFiles, runCli, sha256File, startCli, startServe, stopChild,
  storedChunks, type CliResult, type ServingNode,
} from './helpers/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const PARTIAL_DIR = '.p2pfx-partial';

interface SentFile { fileId: string; name: string; size: number; sha256: string | null; chunks: number; sentChunks: number }
interface GotFile { fileId: string; name: string; path: string; size: number; sha256: string | null; fetchedChunks: number; localChunks: number; resumedChunks: number }
interface ReceivedEvent { event: 'received'; fileId: string; name: string; path: string; size: number; sha256: string | null }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A file of random bytes, written a MiB at a time (the test's memory stays small). */
async function writeRandom(dir: string, name: string, size: number): Promise<string> {
  const path = join(dir, name);
  const fh = await open(path, 'wx');
  try {
    for (let at = 0; at < size; at += MiB) await fh.write(randomBytes(Math.min(MiB, size - at)));
  } finally {
    await fh.close();
  }
  return path;
}

function parseJson<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stdout, got:\n${r.stdout}`);
  return JSON.parse(lines[0]!) as T;
}

/** The error a command run with --json printed on stderr (nothing on stdout, exit 1). */
function jsonError(r: CliResult): { code: string; message: string } {
  const context = `\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, `exit code${context}`);
  assert.equal(r.stdout, '', `nothing on stdout when failing${context}`);
  assertNoStack(r);
  return (JSON.parse(r.stderr.trim()) as { error: { code: string; message: string } }).error;
}

/** `fn` polled every `everyMs` until it returns something other than null; fails after `timeoutMs`. */
async function poll<T>(what: string, fn: () => Promise<T | null>, { everyMs = 10, timeoutMs = 20_000 } = {}): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > until) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

async function sizeOf(path: string): Promise<number | null> {
  return stat(path).then((s) => s.size, () => null);
}

/**
 * What a home's chunk store holds, checked: every file under a final name (chunks/xx/<id>) hashes
 * to its name, and every other file is a temporary (chunks/.tmp/) or quarantined (chunks/.quarantine/).
 */
async function storeState(home: string): Promise<{ ids: string[]; bytes: number; tmp: string[]; quarantined: string[] }> {
  const root = join(home, 'chunks');
  const ids: string[] = [];
  const tmp: string[] = [];
  const quarantined: string[] = [];
  let bytes = 0;
  for (const f of await listFiles(root)) {
    if (f.startsWith('.tmp/')) tmp.push(f);
    else if (f.startsWith('.quarantine/')) quarantined.push(f);
    else {
      assert.match(f, /^([0-9a-f]{2})\/\1[0-9a-f]{62}$/, `only chunks under final names in ${root}, found ${f}`);
      const id = basename(f);
      assert.equal(await sha256File(join(root, f)), id, `${f} is under a final name but does not hash to it (a half chunk)`);
      ids.push(id);
      bytes += (await stat(join(root, f))).size;
    }
  }
  return { ids, bytes, tmp, quarantined };
}

/** The serve's next `{"event":"received"…}` line, after `from` characters of its stdout. */
async function nextReceived(node: ServingNode, from = 0, timeoutMs = 20_000): Promise<ReceivedEvent> {
  const [line] = await node.cli.waitFor(/^\{"event":"(?:received|failed)".*$/m, { from, timeoutMs });
  const e = JSON.parse(line) as ReceivedEvent | { event: 'failed'; code: string; message: string };
  assert.equal(e.event, 'received', `the serve failed to reassemble: ${line}`);
  return e as ReceivedEvent;
}

/**
 * `p2pfx serve` as startServe runs it, with more environment (the helper takes none), and without
 * its "exited during the test" note (for a node the test kills on purpose).
 */
async function serve(t: TestContext, home: string, env: Record<string, string> = {}): Promise<ServingNode> {
  const cli = startCli(t, ['serve', '--home', home, '--host', '127.0.0.1', '--port', '0', '--json', '--no-discovery'], { env });
  const [line] = await cli.waitFor(/^.*\n/);
  const info = JSON.parse(line) as { host: string; port: number; nodeId: string; downloads: string; downloadsSource: string };
  return { home, host: info.host, port: info.port, peer: `127.0.0.1:${info.port}`, nodeId: info.nodeId, downloads: { dir: info.downloads, source: info.downloadsSource }, cli };
}

/** TLS options of a home's node certificate, as a peer of the network would connect with. */
async function nodeTls(home: string): Promise<{ key: Buffer; cert: Buffer; ca: Buffer }> {
  const certs = join(home, 'certs');
  return {
    key: await readFile(join(certs, 'node-key.pem')),
    cert: await readFile(join(certs, 'node-cert.pem')),
    ca: await readFile(join(certs, 'ca-cert.pem')),
  };
}

// ---------------------------------------------------------------- 1. receiver killed mid-send

test('kill -9 of the receiving node mid-send: no half chunk under a final name; after a restart, send moves exactly what it lacks', async (t) => {
  const net = await cliNetwork(t);
  const b = await serve(t, net.b);
  const size = 48 * MiB;
  const total = size / CHUNK;
  const file = await writeRandom(net.dir, 'big.bin', size);
  const expected = await sha256File(file);

  const send = startCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']);
  // Killed once the peer's store holds some chunks: well before the last one arrives.
  const seen = await poll('the peer to hold 32 chunks', async () => {
    const n = (await storedChunks(b.home)).length;
    if (n >= total) assert.fail(`the send finished (${n} chunks) before the receiver could be killed`);
    return n >= 32 ? n : null;
  });
  b.cli.child.kill('SIGKILL');
  const killed = await b.cli.exit();
  assert.equal(killed.signal, 'SIGKILL');

  const failed = await send.exit();
  const e = jsonError(failed);
  assert.equal(e.code, 'PEER_UNREACHABLE', e.message);
  assert.ok(e.message.includes(b.peer), `names the peer: ${e.message}`);
  assert.doesNotMatch(e.message, /UND_ERR|E[A-Z]{4,}\b/, `said in words, not a library's codes: ${e.message}`);

  const after = await storeState(b.home);
  assert.ok(after.ids.length >= seen && after.ids.length < total, `the store holds part of the file: ${after.ids.length} of ${total} chunks`);
  for (const f of after.tmp) assert.match(f, /^\.tmp\/[0-9a-f]{64}\.[0-9a-f]{12}$/, 'only the store\'s own temporaries');
  assert.deepEqual(await listFiles(join(b.home, 'received')), [], 'the receiver wrote no file');
  t.diagnostic(`killed with ${after.ids.length} of ${total} chunks held, ${after.tmp.length} temporaries left in chunks/.tmp`);

  // The same home again, on a new port.
  const b2 = await startServe(t, net.b);
  const sent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b2.peer, '--chunk-size', '64K', '--json']));
  assert.equal(sent.chunks, total);
  assert.equal(sent.sentChunks, total - after.ids.length, 'exactly the chunks the peer lacked were moved');

  const got = await nextReceived(b2);
  assert.equal(got.fileId, sent.fileId);
  assert.equal(got.path, join(b.home, 'received', 'big.bin'));
  assert.equal(await sha256File(got.path), expected);
  // Whole and in place, the file stands for its chunks: none stays sealed (disk used once).
  assert.equal((await storeState(b.home)).ids.length, 0);
});

// ---------------------------------------------------------------- 2. get killed mid-download

/**
 * A 48 MiB file sent from a to b, and a `get` of it on a started; resolves once its partial file
 * holds more than 8 chunks (and the final name never appeared meanwhile), the get still running.
 */
async function getUnderWay(t: TestContext, json: boolean) {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const size = 48 * MiB;
  const total = size / CHUNK;
  const file = await writeRandom(net.dir, 'big.bin', size);
  const sent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
  const final = join(net.a, 'received', 'big.bin');
  const partial = join(net.a, 'received', PARTIAL_DIR, `${sent.fileId}.part`);
  const get = startCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer, ...(json ? ['--json'] : [])]);
  const partSize = await poll('the partial file to grow past 8 chunks', async () => {
    assert.equal(await sizeOf(final), null, `${final} exists while the get runs`);
    const n = await sizeOf(partial);
    if (n === null && get.child.exitCode !== null) assert.fail(`the get ended before it could be stopped: ${get.stdout()}`);
    if (n !== null && n >= size) assert.fail('the partial file is complete before the get could be stopped');
    return n !== null && n >= 8 * CHUNK ? n : null;
  }, { everyMs: 2 });
  return { net, b, size, total, file, sent, final, partial, get, partSize };
}

test('kill -9 of a get mid-download: the final name never appears half-written; get again resumes from the checked partial', async (t) => {
  const { net, b, size, total, file, sent, final, partial, get, partSize } = await getUnderWay(t, true);
  const expected = await sha256File(file);
  get.child.kill('SIGKILL');
  const killed = await get.exit();
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(await sizeOf(final), null, 'no final name after the kill');
  const left = await sizeOf(partial);
  assert.ok(left !== null && left >= partSize && left < size, `the partial stays for a resume: ${left} bytes`);
  t.diagnostic(`killed with ${left} of ${size} bytes in the partial file`);

  // While the second get runs, the final name is absent or whole: it appears by link() of a checked file.
  let watching = true;
  let sightings = 0;
  const watcher = (async () => {
    while (watching) {
      const n = await sizeOf(final);
      if (n !== null) {
        sightings++;
        assert.equal(n, size, `${final} seen with ${n} of ${size} bytes`);
      }
      await sleep(2);
    }
  })();
  const again = await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer, '--json']).finally(() => (watching = false));
  await watcher;
  const got = parseJson<GotFile>(again);
  assert.ok(got.resumedChunks > 0, `resumed from the partial (${got.resumedChunks} chunks)`);
  assert.ok(got.resumedChunks <= Math.floor(left / CHUNK), `resumed ${got.resumedChunks} chunks, the partial held ${left} bytes`);
  assert.equal(got.fetchedChunks, total - got.resumedChunks, 'only what the partial lacked was fetched');
  assert.equal(got.path, final);
  assert.equal(await sha256File(final), expected);
  assert.deepEqual(await listFiles(join(net.a, 'received')), ['big.bin'], 'no partial or lock left');
  t.diagnostic(`resumed ${got.resumedChunks} chunks, fetched ${got.fetchedChunks}; final name seen whole ${sightings} times while polling`);
});

// ---------------------------------------------------------------- 3. a chunk rotting on disk

test('a chunk corrupted on the serving node: get says HASH_MISMATCH naming it; chunks --verify quarantines it; the next send restores it', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const file = await writeRandom(net.dir, 'five.bin', 4 * CHUNK + 1000);
  const expected = await sha256File(file);
  // Stored only: b keeps the sealed chunks (a file sent to b itself would stand for them).
  const sent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--storage-only', '--json']));
  assert.equal(sent.chunks, 5);
  const chunksDir = join(b.home, 'chunks');
  const held = (await storeState(b.home)).ids.sort();
  assert.equal(held.length, 5);
  const at = (id: string) => join(chunksDir, id.slice(0, 2), id);

  // Rot: one bit of the first chunk (in id order) flipped.
  const [rotten, cut] = [held[0]!, held[3]!];
  const rottenBytes = await readFile(at(rotten));
  rottenBytes[rottenBytes.length - 1] = rottenBytes[rottenBytes.length - 1]! ^ 0x01;
  await writeFile(at(rotten), rottenBytes);

  const get = await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer]);
  const message = assertCliError(get, 'HASH_MISMATCH');
  assert.ok(message.includes(rotten), `names the chunk: ${message}`);
  await assertNothingWritten(net.a);
  assert.deepEqual(await storedChunks(net.a), [], 'the bad bytes were not kept');

  // --verify is about this node's store only.
  assertCliError(await runCli(t, ['chunks', '--verify', '--peer', b.peer, '--home', net.a]), 'INVALID_ARGUMENT');

  // Text: each bad chunk with its reason, a summary, then the error.
  const text = await runCli(t, ['chunks', '--verify', '--home', b.home]);
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stdout, new RegExp(`^  bad ${rotten}  bytes hash to [0-9a-f]{64} \\(${rottenBytes.length} bytes\\)$`, 'm'));
  assert.match(text.stdout, new RegExp(`^Checked 5 chunks: 1 bad, moved to ${join(chunksDir, '.quarantine').replace(/[.]/g, '\\.')}\\.$`, 'm'));
  assert.match(text.stderr, new RegExp(`^error HASH_MISMATCH: 1 of 5 chunks in ${chunksDir} do not match their ids; moved to `, 'm'));
  assert.match(text.stderr, /^\s*hint: Nothing was deleted/m);
  assertNoStack(text);
  // Moved, not deleted: the bad bytes wait in the quarantine, the final name is gone.
  assert.deepEqual(await readFile(join(chunksDir, '.quarantine', rotten)), rottenBytes);
  assert.equal(await sizeOf(at(rotten)), null);

  // JSON: another chunk cut short.
  await truncate(at(cut), 1000);
  const cutBytes = await readFile(at(cut));
  const json = await runCli(t, ['chunks', '--verify', '--home', b.home, '--json']);
  assert.equal(json.code, 1, json.stderr);
  const report = JSON.parse(json.stdout) as { checked: number; bad: Array<{ id: string; reason: string }>; quarantined: string };
  assert.equal(report.checked, 4);
  assert.deepEqual(report.bad.map((x) => x.id), [cut]);
  assert.match(report.bad[0]!.reason, /^bytes hash to [0-9a-f]{64} \(1000 bytes\)$/);
  assert.equal(report.quarantined, join(chunksDir, '.quarantine'));
  const err = JSON.parse(json.stderr.trim()) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'HASH_MISMATCH');
  assert.match(err.error.message, /^1 of 4 chunks /);
  assert.deepEqual((await readdir(report.quarantined)).sort(), [rotten, cut].sort());
  assert.deepEqual(await readFile(join(report.quarantined, cut)), cutBytes);

  // What is left is sound: exit 0.
  const clean = await runCli(t, ['chunks', '--verify', '--home', b.home]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(clean.stdout, `Checked 3 chunks in ${chunksDir}: every one matches its id.\n`);
  assert.equal(clean.stderr, '');
  const cleanJson = parseJson<{ checked: number; bad: unknown[] }>(await runCli(t, ['chunks', '--verify', '--home', b.home, '--json']));
  assert.deepEqual([cleanJson.checked, cleanJson.bad], [3, []]);

  // The quarantined chunks are missing now: the same send brings exactly those two again.
  const resent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--storage-only', '--json']));
  assert.equal(resent.fileId, sent.fileId);
  assert.equal(resent.sentChunks, 2);
  const state = await storeState(b.home);
  assert.deepEqual(state.ids.sort(), held);
  assert.equal(state.quarantined.length, 2, 'the quarantine is never emptied by p2pfx');
  const got = parseJson<GotFile>(await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer, '--json']));
  assert.equal(await sha256File(got.path), expected);
});

test('Ctrl-C during a get: exit 130 saying how to resume, the checked partial kept; get again says how many chunks it resumed', async (t) => {
  const { net, b, size, total, file, sent, partial, get } = await getUnderWay(t, false);
  get.child.kill('SIGINT');
  const stopped = await get.exit();
  assert.equal(stopped.code, 130, `exit code 130 after Ctrl-C${get.stderr()}`);
  assert.match(get.stderr(), /^error CANCELLED: get interrupted \(Ctrl-C\): /m);
  assert.match(get.stderr(), /hint: Run the same command again: it resumes where it stopped, keeping what was already transferred and checked\./);
  assert.doesNotMatch(get.stderr(), /^\s+at /m, 'no stack trace');
  const left = await sizeOf(partial);
  assert.ok(left !== null && left > 0 && left < size, `the partial stays for a resume: ${left} bytes`);

  const again = await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer]);
  assert.equal(again.code, 0, again.stderr);
  const m = /^ {2}(\d+) chunks fetched, (\d+) resumed from the partial file, in [\d.]+ s \([\d.]+ MiB\/s\)$/m.exec(again.stdout);
  assert.ok(m, `the counts say what was resumed:\n${again.stdout}`);
  assert.ok(Number(m[2]) > 0, 'chunks resumed');
  assert.equal(Number(m[1]) + Number(m[2]), total, 'fetched + resumed = every chunk');
  assert.equal(await sha256File(join(net.a, 'received', 'big.bin')), await sha256File(file));
});

test('disk full on the getter: INSUFFICIENT_STORAGE naming the folder and the partial kept; with space freed, get resumes', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const out = join(net.dir, 'small-disk');
  await mkdir(out, { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', out], { encoding: 'utf8' });
  if (mount.status !== 0) return t.skip(`mount -t tmpfs failed: ${(mount.stderr || mount.error?.message || '').trim()}`);
  // Unmounted before the network's folder is removed (its t.after runs first).
  try {
    const file = await writeRandom(net.dir, 'big.bin', 6 * MiB);
    const sent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
    const partial = join(out, PARTIAL_DIR, `${sent.fileId}.part`);

    const r = await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer, '--out', out]);
    const message = assertCliError(r, 'INSUFFICIENT_STORAGE');
    assert.equal(message, `no space left in ${out} to write big.bin; what was received and checked is kept in ${partial}`);
    assert.match(r.stderr, new RegExp(`hint: Free space in ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(or choose another folder with --out\\), then run the same command again: it resumes where it stopped\\.`));
    const kept = await sizeOf(partial);
    assert.ok(kept !== null && kept > 0, 'the partial file is kept');
    assert.equal(await sizeOf(join(out, 'big.bin')), null, 'no final name');

    assert.equal(spawnSync('mount', ['-o', 'remount,size=16m', out]).status, 0, 'more space');
    const again = await runCli(t, ['get', sent.fileId, '--home', net.a, '--peer', b.peer, '--out', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /\d+ chunks fetched, [1-9]\d* resumed from the partial file/);
    assert.equal(await sha256File(join(out, 'big.bin')), await sha256File(file));
  } finally {
    spawnSync('umount', [out]);
  }
});

// ---------------------------------------------------------------- 4. disk full

test('disk full on the receiver: INSUFFICIENT_STORAGE; no half chunk, no temporaries; it keeps serving', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const net = await cliNetwork(t);
  const chunksDir = join(net.b, 'chunks');
  await mkdir(chunksDir, { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', chunksDir], { encoding: 'utf8' });
  if (mount.status !== 0) return t.skip(`mount -t tmpfs failed: ${(mount.stderr || mount.error?.message || '').trim()}`);
  let b: ServingNode | null = null;
  try {
    b = await startServe(t, net.b);
    const big = await writeRandom(net.dir, 'big.bin', 16 * MiB);
    const r = await runCli(t, ['send', big, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K']);
    const message = assertCliError(r, 'INSUFFICIENT_STORAGE');
    assert.match(message, new RegExp(`^peer ${b.peer.replace(/\./g, '\\.')}: no space left to write chunk [0-9a-f]{64}$`));
    assert.match(r.stderr, /hint: The node that writes is full \(its disk, or its own limit set by `serve --max-store`\)/);

    const full = await storeState(b.home);
    assert.deepEqual(full.tmp, [], 'no temporaries left in chunks/.tmp');
    assert.ok(full.ids.length > 0 && full.ids.length < 16 * MiB / CHUNK, `the store filled up: ${full.ids.length} chunks`);
    assert.ok(full.bytes <= 8 * MiB, `${full.bytes} bytes held on an 8 MiB disk`);
    assert.deepEqual(await listFiles(join(b.home, 'received')), []);
    t.diagnostic(`the 8 MiB store took ${full.ids.length} chunks (${full.bytes} bytes) before it was full`);

    // Still serving: a health check (peers add), and its chunk list.
    const added = await runCli(t, ['peers', 'add', b.peer, '--home', net.a]);
    assert.equal(added.code, 0, added.stderr);
    const listed = parseJson<{ chunks: unknown[] }>(await runCli(t, ['chunks', '--peer', b.peer, '--home', net.a, '--json']));
    assert.equal(listed.chunks.length, full.ids.length);

    // Space freed (the user deletes the stranded chunks): a file that fits goes through.
    for (const shard of (await readdir(chunksDir)).filter((n) => /^[0-9a-f]{2}$/.test(n))) await rm(join(chunksDir, shard), { recursive: true });
    const small = await writeRandom(net.dir, 'small.bin', 256 * KiB + 7);
    const mark = b.cli.stdout().length;
    const sent = parseJson<SentFile>(await runCli(t, ['send', small, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
    assert.equal(sent.sentChunks, 5);
    const got = await nextReceived(b, mark);
    assert.equal(got.path, join(b.home, 'received', 'small.bin'));
    assert.equal(await sha256File(got.path), await sha256File(small));
    const after = await storeState(b.home);
    assert.equal(after.ids.length, 0, 'the file received stands for its chunks');
    assert.deepEqual(after.tmp, []);
  } finally {
    // Unmounted before the home is removed (t.after): the server first, so nothing holds the mount.
    if (b) await stopChild(b.cli.child);
    if (spawnSync('umount', [chunksDir]).status !== 0) spawnSync('umount', ['-l', chunksDir]);
  }
});

// ---------------------------------------------------------------- 5. peers that stall

/** A raw mTLS connection to a node with a network certificate; resolves once the handshake is done. */
async function rawClient(tlsOpts: { key: Buffer; cert: Buffer; ca: Buffer }, port: number) {
  const socket = connectTls({ ...tlsOpts, host: '127.0.0.1', port, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
  let received = '';
  socket.setEncoding('utf8').on('data', (s: string) => (received += s));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed, received: () => received };
}

test('slowloris: a peer that sends the headers of a PUT and never its body is cut after the request timeout; others go on', async (t) => {
  // Long enough that another peer's 2 MiB send ends well inside it even on a loaded machine: the
  // test checks the order of events (the send done while both stalls are open, then the stalls
  // cut with 408), never how long anything took.
  const timeoutMs = 10_000;
  const net = await cliNetwork(t);
  const b = await serve(t, net.b, { P2PFX_REQUEST_TIMEOUT_MS: String(timeoutMs) });
  const tlsOpts = await nodeTls(net.a);
  const id = createHash('sha256').update('never sent').digest('hex');

  // One stalls after whole headers of a PUT, the other in the middle of its headers.
  const body = await rawClient(tlsOpts, b.port);
  body.socket.write(`PUT /v1/chunks/${id} HTTP/1.1\r\nHost: ${b.peer}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${CHUNK + 29}\r\n\r\n`);
  const headers = await rawClient(tlsOpts, b.port);
  headers.socket.write(`PUT /v1/chunks/${id} HTTP/1.1\r\nHost: ${b.peer}\r\nContent-Type: appli`);
  t.after(() => {
    body.socket.destroy();
    headers.socket.destroy();
  });
  // The stalled PUT is being written to a temporary: the server has taken it in.
  await poll('the stalled PUT to reach the store', async () => ((await storeState(b.home)).tmp.length > 0 ? true : null));

  // Meanwhile another peer's transfer completes normally.
  const file = await writeRandom(net.dir, 'meanwhile.bin', 2 * MiB);
  const mark = b.cli.stdout().length;
  const sent = parseJson<SentFile>(await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer, '--chunk-size', '64K', '--json']));
  assert.equal(sent.sentChunks, 32);
  const got = await nextReceived(b, mark);
  assert.equal(await sha256File(got.path), await sha256File(file));
  for (const [what, c] of [['headers sent, no body', body], ['headers cut short', headers]] as const) {
    assert.ok(!c.socket.destroyed && c.received() === '', `${what}: still open and unanswered when the other peer's send was done`);
  }

  // Then both stalled connections are ended by the server with 408 (the request timeout's answer).
  for (const [what, c] of [['headers sent, no body', body], ['headers cut short', headers]] as const) {
    const bound = timeoutMs + 60_000; // only a hang is caught here
    if (await Promise.race([c.closed.then(() => false), sleep(bound).then(() => true)])) assert.fail(`${what}: still open ${bound} ms later`);
    assert.match(c.received(), /^HTTP\/1\.1 408 /, `${what}: answered 408 before closing, got ${JSON.stringify(c.received().slice(0, 80))}`);
  }
  // The stalled PUT's temporary is removed, and the node still answers.
  await poll('the stalled PUT\'s temporary to go', async () => ((await storeState(b.home)).tmp.length === 0 ? true : null), { timeoutMs: 3_000 });
  assert.equal(await sizeOf(join(b.home, 'chunks', id.slice(0, 2), id)), null);
  const after = await runCli(t, ['peers', 'add', b.peer, '--home', net.a]);
  assert.equal(after.code, 0, after.stderr);
});

test('a peer that accepts the TLS connection and never answers: get and send end with PEER_TIMEOUT, the peer named', async (t) => {
  const timeoutMs = 1_500;
  const net = await cliNetwork(t);
  const tlsOpts = await nodeTls(net.b);
  const sockets = new Set<TLSSocket>();
  let accepted = 0;
  const silent = createTlsServer({ ...tlsOpts, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => {
    if (socket.authorized) accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const peer = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  const file = await writeRandom(net.dir, 'x.bin', 100 * KiB);
  const env = { P2PFX_PEER_TIMEOUT_MS: String(timeoutMs) };

  // Bounded only against a hang (runCli kills a command still running after 60 s): the outcome is
  // what is checked — each command ended by its own peer timeout, with the peer named.
  const run = (args: string[]) => runCli(t, [...args, '--home', net.a, '--peer', peer], { env, timeoutMs: 60_000 });
  const [get, send] = await Promise.all([run(['get', 'ffffffffffffffffffffffffffffffff']), run(['send', file])]);
  for (const [what, r] of [['get', get], ['send', send]] as const) {
    const message = assertCliError(r, 'PEER_TIMEOUT');
    assert.equal(message, `peer ${peer} stopped answering`, what);
  }
  assert.ok(accepted >= 2, `the silent peer accepted the TLS connections (${accepted})`);
  await assertNothingWritten(net.a);
  assert.deepEqual(await storedChunks(net.a), []);

  // A value that is not a duration is refused before anyone is contacted.
  const before = accepted;
  const bad = await runCli(t, ['files', '--home', net.a, '--peer', peer], { env: { P2PFX_PEER_TIMEOUT_MS: 'soon' } });
  assert.match(assertCliError(bad, 'INVALID_ARGUMENT'), /P2PFX_PEER_TIMEOUT_MS/);
  assert.equal(accepted, before);
});
