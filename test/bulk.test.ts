// Bulk streams (DESIGN "Bulk streams"): what a real node does with well-formed and hostile frames
// on an upgraded mutual-TLS connection, and the frame parser under a seeded fuzz (seed printed;
// replay with P2PFX_FUZZ_SEED=N node --test dist/test/bulk.test.js).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ERROR_CODES, isErrorCode, P2pfxError } from '../src/core/errors.js';
import { BULK_STREAM_PATH, END_FRAME, ERROR_FRAME_ID, FRAME_ABSENT, FRAMES_PROTOCOL, FrameParser, errorFrame, frameHeader, type FrameHead, type FrameKind } from '../src/net/protocol/bulk.js';
import { BLOB_OVERHEAD_BYTES, MAX_BLOB_BYTES } from '../src/core/limits.js';
import { bulkActivity } from '../src/net/server.js';
import { tlsContextOptions } from '../src/net/tls.js';
import { Rng, fuzzSeed } from './helpers/fuzz-rng.js';
import { makeNetwork, type TestNode } from './helpers/network.js';

const SEED = fuzzSeed();
const REPLAY = `seed ${SEED}: replay with P2PFX_FUZZ_SEED=${SEED} node --test dist/test/bulk.test.js`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A random blob of `size` bytes and its id. */
function blobOf(size: number, rng?: Rng): { id: string; blob: Buffer } {
  const blob = rng ? rng.bytes(size) : randomBytes(size);
  return { id: sha(blob), blob };
}

async function pair(t: TestContext): Promise<{ a: TestNode; b: TestNode }> {
  const net = await makeNetwork(t);
  return { a: await net.add('alpha', { serve: false }), b: await net.add('beta') };
}

/** What a finished raw stream got back: the frames, and the error frame's code if it ended with one. */
interface Heard { frames: FrameHead[]; error: { code: string; message: string } | null; http: string; body: string }

/**
 * A bulk stream by hand: the upgrade written byte for byte on a fresh mutual-TLS socket, then
 * `bytes`, then our side of the connection ends. Resolves with what the node sent back once the
 * connection closed.
 */
async function rawStream(a: TestNode, b: TestNode, mode: string, bytes: Buffer[], opts: { upgrade?: string; path?: string; method?: string; leave?: boolean } = {}): Promise<Heard> {
  const socket: TLSSocket = tlsConnect({ ...tlsContextOptions(a.node.creds), host: b.server!.host, port: b.server!.port, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const path = opts.path ?? `${BULK_STREAM_PATH}?mode=${mode}`;
  socket.write(`${opts.method ?? 'GET'} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: ${opts.upgrade ?? FRAMES_PROTOCOL}\r\n\r\n`);
  const received: Buffer[] = [];
  const heard = new Promise<Heard>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), 20_000); // a hang, never a timing: the node must close first
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(received);
      const end = all.indexOf('\r\n\r\n');
      const http = all.subarray(0, end < 0 ? all.length : end).toString('latin1');
      const frames: FrameHead[] = [];
      let error: Heard['error'] = null;
      let body: Buffer[] = [];
      if (http.startsWith('HTTP/1.1 101')) {
        const parser = new FrameParser({ maxBlobBytes: MAX_BLOB_BYTES, kinds: ['chunk', 'empty', 'absent', 'end', 'error'] }, {
          head: (h) => {
            frames.push(h);
            body = [];
          },
          body: (p) => body.push(Buffer.from(p)),
          done: () => {
            const last = frames.at(-1)!;
            if (last.kind === 'error') error = (JSON.parse(Buffer.concat(body).toString('utf8')) as { error: { code: string; message: string } }).error;
          },
        });
        try {
          parser.push(all.subarray(end + 4));
        } catch (err) {
          assert.fail(`the node sent a malformed frame stream: ${String(err)} (${REPLAY})`);
        }
      }
      resolve({ frames, error, http, body: end < 0 ? '' : all.subarray(end + 4).toString('utf8') });
    });
  });
  // Written once the upgrade is answered (as a client would), then left for the node to judge.
  await new Promise<void>((resolve) => {
    const check = () => {
      if (Buffer.concat(received).includes('\r\n\r\n')) resolve();
      else socket.once('data', check);
    };
    check();
  });
  for (const b of bytes) if (!socket.destroyed) socket.write(b);
  // A peer that said it is done waits for the node's end; one that did not (or a hostile one,
  // `leave`) goes away: it ends its side.
  if (!socket.destroyed && (opts.leave === true || bytes.at(-1) !== END_FRAME)) socket.end();
  return heard;
}

async function chunksHeld(n: TestNode): Promise<string[]> {
  return (await n.node.store.list('', 10_000)).map((c) => c.id).sort();
}

async function settled(n: TestNode): Promise<void> {
  for (const start = Date.now(); bulkActivity(n.server!.app) > 0; await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - start > 30_000) assert.fail('the node did not settle its bulk streams within 30 s');
  }
}

test('an upload stream stores each chunk whose bytes are its id, says so chunk by chunk, and ends on the end frame', async (t) => {
  const { a, b } = await pair(t);
  const chunks = [blobOf(1000), blobOf(BLOB_OVERHEAD_BYTES), blobOf(300_000)];
  const heard = await rawStream(a, b, 'upload', [...chunks.flatMap((c) => [frameHeader(c.id, c.blob.length), c.blob]), END_FRAME]);
  assert.match(heard.http, /^HTTP\/1\.1 101 /);
  assert.deepEqual(heard.frames.map((f) => [f.kind, f.id]), [...chunks.map((c) => ['empty', c.id]), ['end', ERROR_FRAME_ID]]);
  assert.deepEqual(await chunksHeld(b), chunks.map((c) => c.id).sort());
});

test('a frame whose bytes are not its id: HASH_MISMATCH, nothing stored for it, the chunks before it kept; the node goes on', async (t) => {
  const { a, b } = await pair(t);
  const good = blobOf(5000);
  const bad = blobOf(5000);
  const lying = randomBytes(5000);
  const heard = await rawStream(a, b, 'upload', [frameHeader(good.id, 5000), good.blob, frameHeader(bad.id, 5000), lying, END_FRAME]);
  assert.deepEqual(heard.frames.map((f) => f.kind), ['empty', 'error']);
  assert.equal(heard.error?.code, 'HASH_MISMATCH');
  assert.match(heard.error!.message, new RegExp(bad.id));
  await settled(b);
  assert.deepEqual(await chunksHeld(b), [good.id]);
  assert.deepEqual(await readdir(join(b.home.chunksDir, '.tmp')), [], 'no temporary left');
  // And the next stream works.
  const again = await rawStream(a, b, 'upload', [frameHeader(bad.id, 5000), bad.blob, END_FRAME]);
  assert.deepEqual(again.frames.map((f) => f.kind), ['empty', 'end']);
});

test('a fetch stream answers every ask in order: the chunk, or "absent"', async (t) => {
  const { a, b } = await pair(t);
  const held = blobOf(70_000);
  await b.node.store.putBlob(held.id, held.blob);
  const missing = blobOf(10).id;
  const heard = await rawStream(a, b, 'fetch', [frameHeader(held.id, 0), frameHeader(missing, 0), frameHeader(held.id, 0), END_FRAME]);
  assert.deepEqual(heard.frames.map((f) => [f.kind, f.id, f.length]), [['chunk', held.id, 70_000], ['absent', missing, 0], ['chunk', held.id, 70_000], ['end', ERROR_FRAME_ID, 0]]);
});

test('the upgrade is refused with a stable code and the API\'s error shape: no upgrade, another protocol, a bad mode, another method or path', async (t) => {
  const { a, b } = await pair(t);
  const cases: Array<[string, Parameters<typeof rawStream>[4], RegExp, string]> = [
    ['another protocol', { upgrade: 'websocket' }, /^HTTP\/1\.1 400 /, 'BAD_REQUEST'],
    ['a bad mode', { path: `${BULK_STREAM_PATH}?mode=both` }, /^HTTP\/1\.1 400 /, 'BAD_REQUEST'],
    ['no mode', { path: BULK_STREAM_PATH }, /^HTTP\/1\.1 400 /, 'BAD_REQUEST'],
    ['a POST', { method: 'POST' }, /^HTTP\/1\.1 404 /, 'NOT_FOUND'],
    ['another path', { path: '/v1/health' }, /^HTTP\/1\.1 404 /, 'NOT_FOUND'],
  ];
  for (const [label, opts, status, code] of cases) {
    const heard = await rawStream(a, b, 'upload', [], opts);
    assert.match(heard.http, status, label);
    assert.equal((JSON.parse(heard.body) as { error: { code: string } }).error.code, code, label);
  }
  assert.equal((await a.client(b).health()).status, 'ok');
});

test(`hostile bulk streams get an error frame with a stable code or a closed connection, never INTERNAL; nothing half-stored; the node stays up (fuzz, ${REPLAY})`, { timeout: 300_000 }, async (t) => {
  const { a, b } = await pair(t);
  const rng = new Rng(SEED ^ 0xb01c);
  const valid = blobOf(rng.range(BLOB_OVERHEAD_BYTES, 20_000), rng);
  type Case = { name: string; mode: 'upload' | 'fetch'; bytes: Buffer[]; stores?: string[] };
  const cases: Case[] = [];
  const add = (name: string, mode: Case['mode'], bytes: Buffer[], stores: string[] = []) => cases.push({ name, mode, bytes, stores });
  for (let i = 0; i < 12; i++) {
    const c = blobOf(rng.range(BLOB_OVERHEAD_BYTES, 40_000), rng);
    const head = frameHeader(c.id, c.blob.length);
    const cut = rng.range(1, c.blob.length - 1);
    add(`upload: truncated body #${i}`, 'upload', [head, c.blob.subarray(0, cut)]);
    add(`upload: truncated header #${i}`, 'upload', [head.subarray(0, rng.range(1, 35))]);
    add(`upload: length that lies (says more) #${i}`, 'upload', [frameHeader(c.id, c.blob.length + rng.range(1, 5000)), c.blob, END_FRAME]);
    add(`upload: length that lies (says less) #${i}`, 'upload', [frameHeader(c.id, Math.max(BLOB_OVERHEAD_BYTES, c.blob.length - rng.range(1, 1000))), c.blob, END_FRAME]);
    add(`upload: bytes of another id #${i}`, 'upload', [frameHeader(rng.hex(64), c.blob.length), c.blob, END_FRAME]);
    add(`upload: garbage between frames #${i}`, 'upload', [frameHeader(valid.id, valid.blob.length), valid.blob, rng.bytes(rng.range(1, 64)), frameHeader(c.id, c.blob.length), c.blob, END_FRAME], [valid.id]);
    add(`random bytes #${i}`, rng.chance(0.5) ? 'upload' : 'fetch', [rng.bytes(rng.range(1, 3000))]);
  }
  add('upload: a 0-length frame', 'upload', [frameHeader(valid.id, 0), END_FRAME]);
  add('upload: a chunk shorter than a blob can be', 'upload', [frameHeader(valid.id, BLOB_OVERHEAD_BYTES - 1), rng.bytes(BLOB_OVERHEAD_BYTES - 1), END_FRAME]);
  add('upload: a huge length', 'upload', [frameHeader(valid.id, MAX_BLOB_BYTES + 1), rng.bytes(100)]);
  add('upload: the largest length, then nothing', 'upload', [frameHeader(valid.id, FRAME_ABSENT - 1)]);
  add('upload: an "absent" frame', 'upload', [frameHeader(valid.id, null), END_FRAME]);
  add('upload: an error frame from the client', 'upload', [errorFrame('INTERNAL', 'boom'), END_FRAME]);
  add('fetch: a chunk frame', 'fetch', [frameHeader(valid.id, valid.blob.length), valid.blob, END_FRAME]);
  add('fetch: an "absent" frame', 'fetch', [frameHeader(valid.id, null), END_FRAME]);
  add('fetch: asks then garbage', 'fetch', [frameHeader(valid.id, 0), rng.bytes(10)]);
  add('fetch: many asks, never read', 'fetch', Array.from({ length: 3000 }, () => frameHeader(rng.hex(64), 0)));

  const before = await chunksHeld(b);
  const expected = new Set(before);
  for (const c of cases) {
    const heard = await rawStream(a, b, c.mode, c.bytes, { leave: true });
    assert.match(heard.http, /^HTTP\/1\.1 101 /, `${c.name}: upgraded (${REPLAY})`);
    if (heard.error !== null) {
      assert.ok(isErrorCode(heard.error.code) && heard.error.code !== 'INTERNAL', `${c.name}: code ${heard.error.code} (${REPLAY})`);
      assert.ok(ERROR_CODES[heard.error.code as keyof typeof ERROR_CODES].status < 600);
    }
    for (const id of c.stores ?? []) expected.add(id);
    await settled(b);
    const held = await chunksHeld(b);
    for (const id of held) assert.ok(expected.has(id), `${c.name}: chunk ${id} stored (${REPLAY})`);
    for (const id of held) assert.equal(sha(await b.node.store.read(id)), id, `${c.name}: ${id} holds its bytes`);
    assert.deepEqual(await readdir(join(b.home.chunksDir, '.tmp')), [], `${c.name}: no temporary left (${REPLAY})`);
  }
  assert.equal((await a.client(b).health()).status, 'ok', 'the node still answers');
  t.diagnostic(`${cases.length} hostile streams, ${REPLAY}`);
});

test(`the frame parser, fed any split of a valid stream, gives the frames back; fed corrupted ones, throws only P2pfxError and never hands out more than a frame's length (fuzz, ${REPLAY})`, () => {
  const rng = new Rng(SEED ^ 0xf4a3);
  const all: FrameKind[] = ['chunk', 'empty', 'absent', 'end', 'error'];
  for (let round = 0; round < 300; round++) {
    const frames: Array<{ kind: FrameKind; id: string; body: Buffer }> = [];
    for (let i = rng.range(0, 8); i > 0; i--) {
      const kind = rng.pick(all);
      const id = kind === 'end' || kind === 'error' ? ERROR_FRAME_ID : rng.hex(64);
      const body = kind === 'chunk' ? rng.bytes(rng.range(BLOB_OVERHEAD_BYTES, 3000)) : kind === 'error' ? Buffer.from(JSON.stringify({ error: { code: 'X', message: rng.hex(8) } })) : Buffer.alloc(0);
      frames.push({ kind, id, body });
    }
    const bytes = Buffer.concat(frames.flatMap((f) => [frameHeader(f.id, f.kind === 'absent' ? null : f.body.length), f.body]));
    const got: Array<{ head: FrameHead; body: Buffer[] }> = [];
    const parser = new FrameParser({ maxBlobBytes: 3000, kinds: all }, {
      head: (head) => got.push({ head, body: [] }),
      body: (p) => got.at(-1)!.body.push(Buffer.from(p)),
      done: () => undefined,
    });
    for (let at = 0; at < bytes.length;) {
      const n = rng.range(1, 200);
      parser.push(bytes.subarray(at, at + n));
      at += n;
    }
    parser.end();
    assert.deepEqual(got.map((g) => [g.head.kind, g.head.id, Buffer.concat(g.body).toString('hex')]), frames.map((f) => [f.kind, f.id, f.body.toString('hex')]), REPLAY);

    // Corrupted: a few bytes flipped, inserted or cut; only the kinds an upload may carry allowed.
    const bad = Buffer.from(bytes);
    for (let k = rng.range(1, 4); k > 0 && bad.length > 0; k--) bad[rng.int(bad.length)] = rng.int(256);
    const cut = rng.chance(0.3) ? bad.subarray(0, rng.int(bad.length + 1)) : Buffer.concat([bad, rng.bytes(rng.range(0, 50))]);
    let declared = -1;
    let seen = 0;
    const strict = new FrameParser({ maxBlobBytes: 3000, kinds: ['chunk', 'end'] }, {
      head: (h) => {
        declared = h.length;
        seen = 0;
      },
      body: (p) => {
        seen += p.length;
        assert.ok(seen <= declared, `handed out ${seen} bytes of a frame of ${declared} (${REPLAY})`);
      },
      done: () => assert.equal(seen, declared, REPLAY),
    });
    try {
      for (let at = 0; at < cut.length;) {
        const n = rng.range(1, 300);
        strict.push(cut.subarray(at, at + n));
        at += n;
      }
      strict.end();
    } catch (err) {
      assert.ok(err instanceof P2pfxError && ['BAD_REQUEST', 'CHUNK_TOO_LARGE'].includes(err.code), `${String(err)} (${REPLAY})`);
    }
  }
});
