// The chunk store on a real disk and the SQLite index.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { ChunkStore } from '../src/store/chunk-store.js';
import { IndexDb } from '../src/store/index-db.js';
import { tempDir } from './helpers/network.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a chunk lands under chunks/ab/<id> only when its bytes hash to its id', async (t) => {
  const dir = await tempDir(t);
  const store = await new ChunkStore(join(dir, 'chunks')).init();
  const blob = randomBytes(5000);
  const id = sha(blob);
  async function* pieces() { for (let i = 0; i < blob.length; i += 777) yield blob.subarray(i, i + 777); }
  assert.deepEqual(await store.putStream(id, pieces()), { created: true, size: 5000 });
  assert.deepEqual(await readdir(join(dir, 'chunks', id.slice(0, 2))), [id]);
  assert.deepEqual(await store.read(id), blob);
  assert.deepEqual(await store.putBlob(id, blob), { created: false, size: 5000 });

  const other = randomBytes(100);
  await assert.rejects(store.putStream(sha(randomBytes(1)), [other]), { code: 'HASH_MISMATCH' });
  await assert.rejects(store.putBlob(sha(randomBytes(1)), other), { code: 'HASH_MISMATCH' });
  await assert.rejects(store.putStream(sha(other), [other], 50), { code: 'CHUNK_TOO_LARGE' });
  assert.deepEqual(await readdir(join(dir, 'chunks', '.tmp')), [], 'no temporary file left');
  assert.deepEqual((await store.list()).map((c) => c.id), [id]);
});

test('ids are checked before they touch a path', async (t) => {
  const dir = await tempDir(t);
  const store = await new ChunkStore(join(dir, 'chunks')).init();
  for (const bad of ['../../etc/passwd', `${'a'.repeat(63)}/`, 'A'.repeat(64), '', '..']) {
    assert.throws(() => store.pathOf(bad), { code: 'INVALID_ID' });
    await assert.rejects(store.read(bad), { code: 'INVALID_ID' });
  }
});

test('listing pages through the shards in id order; usage counts chunks and bytes', async (t) => {
  const dir = await tempDir(t);
  const store = await new ChunkStore(join(dir, 'chunks')).init();
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const blob = randomBytes(10 + i);
    ids.push(sha(blob));
    await store.putBlob(sha(blob), blob);
  }
  ids.sort();
  const seen: string[] = [];
  let after = '';
  for (;;) {
    const page = await store.list(after, 7);
    seen.push(...page.map((c) => c.id));
    if (page.length < 7) break;
    after = page[page.length - 1]!.id;
  }
  assert.deepEqual(seen, ids);
  const usage = await store.usage();
  assert.equal(usage.count, 40);
  assert.equal(usage.bytes, Array.from({ length: 40 }, (_, i) => 10 + i).reduce((a, b) => a + b, 0));
  assert.deepEqual(await store.missing([ids[0]!, sha(Buffer.from('no'))]), [sha(Buffer.from('no'))]);
});

test('temporaries left by a killed process are removed when the store opens, fresh ones kept', async (t) => {
  const dir = await tempDir(t);
  const chunks = join(dir, 'chunks');
  await new ChunkStore(chunks).init();
  const stale = join(chunks, '.tmp', 'stale.part');
  const fresh = join(chunks, '.tmp', 'fresh.part');
  await writeFile(stale, 'x');
  await writeFile(fresh, 'y');
  const old = new Date(Date.now() - 60 * 60 * 1000);
  await utimes(stale, old, old);
  await new ChunkStore(chunks).init();
  assert.deepEqual(await readdir(join(chunks, '.tmp')), ['fresh.part']);
});

test('the index survives reopening: manifests, journal and sealed chunk ids (WAL)', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'p2pfx.db');
  const db = new IndexDb(path);
  db.startJournal({ path: '/x', chunkSize: 4096, size: 10, mtimeMs: 1.5, fileId: 'a'.repeat(32), keyEnvelope: '{}', noncePrefix: '00'.repeat(8), complete: false, sha256: null });
  db.recordSealed('a'.repeat(32), [{ index: 0, id: 'b'.repeat(64), size: 39 }]);
  db.close();
  const again = new IndexDb(path);
  t.after(() => again.close());
  assert.equal(again.getJournal('/x', 4096)?.fileId, 'a'.repeat(32));
  assert.deepEqual([...again.sealedChunks('a'.repeat(32))], [[0, { id: 'b'.repeat(64), size: 39 }]]);
  // A new key for the same path drops the old file's sealed ids.
  again.startJournal({ path: '/x', chunkSize: 4096, size: 11, mtimeMs: 2, fileId: 'c'.repeat(32), keyEnvelope: '{}', noncePrefix: '11'.repeat(8), complete: false, sha256: null });
  assert.equal(again.sealedChunks('a'.repeat(32)).size, 0);
  assert.equal(again.getJournal('/x', 4096)?.fileId, 'c'.repeat(32));
});

test('several processes write one index at once (server, CLI, UI): every write lands, none sees SQLITE_BUSY', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'p2pfx.db');
  const WRITERS = 4;
  const ROUNDS = 150;
  // Each child opens its own connection on the same new file (so migrations race too), then
  // writes in transactions: read-then-write (notePeer), plain writes (settings) and batches.
  const indexUrl = new URL('../src/store/index-db.js', import.meta.url).href;
  const code = `
    const { IndexDb } = await import(${JSON.stringify(indexUrl)});
    const w = Number(process.argv[1]);
    const db = new IndexDb(${JSON.stringify(path)});
    for (let i = 0; i < ${ROUNDS}; i++) {
      db.notePeer({ nodeId: 'peer-' + w + '-' + (i % 10), name: 'p' + w, host: '10.0.0.' + w, port: 8443 + i, source: 'discovered' });
      db.setSetting('w' + w + '-' + i, String(i));
      db.recordSealed(String(w).repeat(32), [{ index: i, id: 'f'.repeat(64), size: i }]);
    }
    db.close();`;
  const runs = Array.from({ length: WRITERS }, (_, w) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, String(w)], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (c) => resolve({ code: c, stderr }));
  }));
  for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stderr);
  const db = new IndexDb(path);
  t.after(() => db.close());
  assert.equal(db.listPeers().length, WRITERS * 10);
  for (let w = 0; w < WRITERS; w++) {
    assert.equal(db.getSetting(`w${w}-${ROUNDS - 1}`), String(ROUNDS - 1));
    assert.equal(db.sealedChunks(String(w).repeat(32)).size, ROUNDS);
  }
});

test('a transaction that throws leaves nothing behind; one inside another rolls back alone', async (t) => {
  const dir = await tempDir(t);
  const { Sqlite } = await import('../src/store/sqlite.js');
  const db = new Sqlite(join(dir, 'x.db'));
  t.after(() => db.close());
  db.exec('CREATE TABLE t (v TEXT)');
  assert.throws(() => db.transaction(() => {
    db.run('INSERT INTO t VALUES (?)', 'lost');
    throw new Error('boom');
  }), /boom/);
  assert.deepEqual(db.all('SELECT v FROM t'), []);
  db.transaction(() => {
    db.run('INSERT INTO t VALUES (?)', 'outer');
    assert.throws(() => db.transaction(() => {
      db.run('INSERT INTO t VALUES (?)', 'inner');
      throw new Error('inner fails');
    }));
    db.run('INSERT INTO t VALUES (?)', 'after');
  });
  assert.deepEqual(db.all<{ v: string }>('SELECT v FROM t ORDER BY rowid').map((r) => r.v), ['outer', 'after']);
  assert.equal(db.pragma('journal_mode'), 'wal');
});
