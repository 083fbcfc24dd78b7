// Receiving a packed folder (DESIGN "Formats > Folder, packed"): one manifest, one key. The index
// (the stream's last chunks) is fetched first and checked whole — every path, every file's place —
// then the member chunks stream in order, each checked against its id, opened at its place and
// scattered by a worker straight into the files of a private staging tree (made empty, O_EXCL,
// beforehand: no name is ever opened twice, no link followed). Nothing is stored twice; the
// finished tree gets its name with one rename. An interrupted run resumes after the last chunk
// written (counted in the staging folder).
import { constants, existsSync } from 'node:fs';
import { chmod, open, readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { BufferRing } from '../core/buffer-ring.js';
import { collectNow } from '../core/gc.js';
import { chunkId, openChunk } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { escapePath, MAX_FOLDER_INDEX_BYTES } from '../core/folder-index.js';
import { parsePackedIndex, scatterPlan, streamStarts, versionTag, type PackedFileEntry, type PackedIndex } from '../core/folder-pack.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import { openMetadata, plaintextBytes, type Manifest } from '../core/manifest.js';
import type { LocalNode } from '../store/local-node.js';
import type { CryptoPool } from './crypto-pool.js';
import { publishDir, replaceTree, TreeBuilder, type LocalChanges, type Staging } from './folder-tree.js';
import { writeFileAtomic } from '../store/fs-atomic.js';
import { DEFAULT_GET_CONCURRENCY } from './get.js';
import type { ProgressListener } from './progress.js';
import { throwIfCancelled } from './send.js';
import { BulkFetch } from './bulk-fetch.js';
import type { Swarm } from './swarm.js';
import { unlockDataKey } from './unlock.js';

/** Chunks in the worker's hands at once (one being opened, the others being written). */
const SCATTER_IN_FLIGHT = 3;

export interface PackedReceiveOptions {
  node: LocalNode;
  manifest: Manifest;
  /** The peers to fetch from; null: this node's store (a folder sent to it). */
  swarm: Swarm | null;
  outDir: string;
  stage: Staging;
  pool: CryptoPool;
  password?: string | undefined;
  askPassword?: (() => Promise<string>) | undefined;
  concurrency?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /**
   * The receiver's copy of an earlier version of this folder (same file id, same sender): the new
   * version takes its place once whole, keeping what the receiver changed or added in it.
   */
  replace?: string;
}

export interface PackedReceiveResult {
  /** When an earlier copy was replaced: what the receiver had changed or added there, kept. */
  localChanges: LocalChanges | null;
  name: string;
  path: string;
  files: number;
  dirs: number;
  bytes: number;
  fetchedChunks: number;
  localChunks: number;
  /** Member chunks found already written by an earlier, interrupted run. */
  resumedChunks: number;
}

export async function receivePacked(opts: PackedReceiveOptions): Promise<PackedReceiveResult> {
  const { node, manifest, stage, pool } = opts;
  const label = manifest.fileId;
  const fileIdBytes = Buffer.from(manifest.fileId, 'hex');
  const dataKey = await unlockDataKey(manifest.envelopes, fileIdBytes, node.creds, { password: opts.password, askPassword: opts.askPassword, label });
  const meta = openMetadata(manifest.metadata, dataKey, fileIdBytes, manifest.version);
  if (meta.size !== plaintextBytes(manifest)) throw bad(`folder ${label}: metadata says ${meta.size} bytes, chunks hold ${plaintextBytes(manifest)}`);
  const plainSizes = manifest.chunks.map((c) => c.size - BLOB_OVERHEAD_BYTES);
  const starts = streamStarts(plainSizes);
  const memberChunks = starts.indexOf(meta.size - meta.indexBytes!);
  if (memberChunks < 0) throw bad(`folder ${label}: its index does not start on a chunk boundary`);
  if (meta.indexBytes! > MAX_FOLDER_INDEX_BYTES) throw bad(`folder ${label}: its index is ${meta.indexBytes} bytes, over the ${MAX_FOLDER_INDEX_BYTES} an index may have`);
  node.db.putManifest(manifest);

  const progressPath = join(stage.root, 'applied');
  const applied = await readApplied(progressPath, memberChunks);
  // The index's chunks first, then the members' from where an earlier run stopped.
  const order = [...range(memberChunks, manifest.chunkCount), ...range(applied, memberChunks)];
  const perPeer = Math.max(1, opts.concurrency ?? DEFAULT_GET_CONCURRENCY);
  const blobs = new BufferRing(manifest.chunkSize + BLOB_OVERHEAD_BYTES, perPeer + SCATTER_IN_FLIGHT + 2);
  const alloc = (n: number): Buffer => (n <= blobs.size ? blobs.take() : Buffer.allocUnsafeSlow(n));
  await opts.swarm?.locate(order.map((c) => manifest.chunks[c]!.id));
  const bulk = opts.swarm ? new BulkFetch(opts.swarm, order.map((c) => manifest.chunks[c]!), { perPeer, window: perPeer, alloc }) : null;
  let taken = 0;
  let fetchedChunks = 0;
  let localChunks = 0;
  const next = async (c: number): Promise<{ blob: Buffer; length: number }> => {
    throwIfCancelled(opts.signal, `folder ${escapePath(meta.name)}`);
    const pos = taken++;
    if (bulk) {
      const got = await bulk.take(pos);
      fetchedChunks++;
      return got;
    }
    // Read into a buffer of the ring, which the worker hands back: no megabyte left per chunk.
    const blob = await node.store.readInto(manifest.chunks[c]!.id, alloc);
    localChunks++;
    return { blob: Buffer.from(blob.buffer as ArrayBuffer, 0, blob.buffer.byteLength), length: blob.length };
  };
  const place = (c: number) => ({ key: dataKey, fileId: fileIdBytes, index: manifest.chunks[c]!.index, last: false });

  try {
    // The index: small, opened here, checked whole before anything is written.
    const pieces: Buffer[] = [];
    for (let c = memberChunks; c < manifest.chunkCount; c++) {
      const got = await next(c);
      const blob = got.blob.subarray(0, got.length);
      if (chunkId(blob) !== manifest.chunks[c]!.id) throw new P2pfxError('HASH_MISMATCH', `chunk ${manifest.chunks[c]!.id} of folder ${label}: bytes do not match its id`);
      pieces.push(openChunk(dataKey, place(c), blob));
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(pieces).toString('utf8'));
    } catch (err) {
      throw bad(`folder ${label}: its index is not JSON`, err);
    }
    const index = parsePackedIndex(json, plainSizes, memberChunks);
    // Its text and parsed form are garbage from here (collected below, before the chunks stream).
    json = undefined;
    pieces.length = 0;
    const files = index.entries.filter((e): e is PackedFileEntry => e.type === 'file');
    const totalBytes = meta.size - meta.indexBytes!;
    const tree = new TreeBuilder(stage.sub('tree'));
    // A resumed run writes into the tree it left; a link planted there is refused, never followed.
    if (applied === 0) await buildTree(tree, index);
    else {
      // Files that start in a chunk not yet counted may have been begun: they are made again.
      await tree.adopt();
      for (const f of files) if (f.chunk !== undefined && f.chunk >= applied) await rm(tree.abs(f.path), { force: true });
    }
    const plan = scatterPlan(index, plainSizes, memberChunks);
    // The index's text and the checks' structures are garbage now: collected before the chunks stream.
    collectNow();
    // The sender's permission bits, never set-id or sticky, never less than the owner's read and
    // write, masked as any new file here is; given by the worker with the file's last piece.
    const mask = process.umask();
    const modeOf = (f: PackedFileEntry) => ((f.mode & 0o777) | 0o600) & ~mask;
    const scatter = pool.scatterer();
    // Files done once every chunk before theirs ends is written: counted once, by first chunk.
    const filesBefore = new Array<number>(memberChunks + 1).fill(0);
    for (const f of files) filesBefore[f.chunk === undefined ? 0 : f.chunk + 1]!++;
    for (let c = 1; c <= memberChunks; c++) filesBefore[c]! += filesBefore[c - 1]!;
    const progress = (chunksDone: number) => {
      const doneBytes = Math.min(totalBytes, starts[chunksDone]!);
      opts.onProgress?.({
        phase: 'fetching', name: meta.name, doneBytes, totalBytes, doneChunks: chunksDone, totalChunks: memberChunks,
        folder: { path: '', fileDoneBytes: 0, fileTotalBytes: 0, doneFiles: filesBefore[chunksDone]!, totalFiles: files.length },
      });
    };
    let done = applied;
    let recorded: Promise<void> = Promise.resolve();
    const writing = new Set<Promise<void>>();
    let failure: unknown = null;
    for (let c = applied; c < memberChunks && failure === null; c++) {
      let got: { blob: Buffer; length: number };
      try {
        got = await next(c);
      } catch (err) {
        // Chunks already handed to the worker are still written (and counted) before this ends.
        failure = err;
        break;
      }
      const toFiles = plan[c]!.map((p) => {
        const f = index.entries[p.entry] as PackedFileEntry;
        const last = p.fileOffset + p.length === f.size;
        return { path: tree.abs(f.path), fileOffset: p.fileOffset, chunkOffset: p.chunkOffset, length: p.length, create: p.fileOffset === 0, finish: last ? { mode: modeOf(f), mtimeMs: f.mtimeMs } : null };
      });
      // One pinned worker answers in the order asked: `done` counts chunks written in order.
      const w: Promise<void> = scatter({ ...place(c), id: manifest.chunks[c]!.id, pieces: toFiles }, got.blob, got.length).then((buf) => {
        blobs.give(buf);
        done++;
        const count = done;
        recorded = recorded.then(() => writeCount(progressPath, count));
        progress(count);
      }, (err: unknown) => {
        failure ??= err;
      }).finally(() => writing.delete(w));
      writing.add(w);
      while (writing.size >= SCATTER_IN_FLIGHT) await Promise.race(writing);
    }
    await Promise.allSettled(writing);
    await recorded;
    if (failure !== null) throw failure;
    for (const f of files) {
      if (f.size !== 0) continue;
      // Empty files have no piece: made here.
      const abs = tree.abs(f.path);
      if (applied === 0 || !existsSync(abs)) await tree.touch(f.path);
      await chmod(abs, modeOf(f));
      await utimes(abs, f.mtimeMs / 1000, f.mtimeMs / 1000);
    }
    let path: string;
    let localChanges: LocalChanges | null = null;
    const indexFile = receivedIndexPath(node, manifest.fileId);
    if (opts.replace !== undefined) {
      localChanges = await replaceTree(tree, opts.replace, await readReceivedIndex(indexFile), join(stage.root, 'previous'));
      path = opts.replace;
    } else {
      path = await publishDir(tree.root, opts.outDir, meta.name);
    }
    // Kept to tell, at the next version, which files the receiver changed since.
    await writeFileAtomic(indexFile, JSON.stringify(index), 0o600);
    node.db.noteReceived(manifest.fileId, path, versionTag(manifest.chunks));
    await rm(stage.root, { recursive: true, force: true });
    opts.onProgress?.({
      phase: 'done', name: meta.name, doneBytes: totalBytes, totalBytes, doneChunks: memberChunks, totalChunks: memberChunks,
      folder: { path: '', fileDoneBytes: 0, fileTotalBytes: 0, doneFiles: files.length, totalFiles: files.length },
    });
    return {
      name: meta.name, path, localChanges, files: files.length, dirs: index.entries.length - files.length, bytes: totalBytes,
      fetchedChunks, localChunks, resumedChunks: applied,
    };
  } finally {
    bulk?.close();
  }
}

/** Where the index of a packed folder received by this node is kept. */
function receivedIndexPath(node: LocalNode, fileId: string): string {
  return join(node.home.root, 'received-folders', `${fileId}.json`);
}

/** The files of the version received before, by path (null when it was not kept or is not readable). */
async function readReceivedIndex(path: string): Promise<Map<string, { size: number; mtimeMs: number }> | null> {
  try {
    const index = JSON.parse(await readFile(path, 'utf8')) as PackedIndex;
    return new Map(index.entries.filter((e): e is PackedFileEntry => e.type === 'file').map((e) => [e.path, { size: e.size, mtimeMs: e.mtimeMs }]));
  } catch {
    return null;
  }
}

/** Every directory (each file's too), in path order; the files are made by their first piece. */
async function buildTree(tree: TreeBuilder, index: PackedIndex): Promise<void> {
  await tree.start();
  const dirs = new Set<string>();
  for (const e of index.entries) {
    if (e.type === 'dir') dirs.add(e.path);
    else if (e.path.includes('/')) dirs.add(e.path.slice(0, e.path.lastIndexOf('/')));
  }
  for (const d of [...dirs].sort()) await tree.dir(d);
}

/**
 * Member chunks an earlier run wrote (0 when none, or when what it left is not a count). Read and
 * written without following a link: a link planted there is refused.
 */
async function readApplied(path: string, memberChunks: number): Promise<number> {
  let text = '0';
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw linkRefused(path, err);
  }
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 && n <= memberChunks ? n : 0;
}

async function writeCount(path: string, count: number): Promise<void> {
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw linkRefused(path, err);
  }
  try {
    await fh.writeFile(String(count));
  } finally {
    await fh.close();
  }
}

function linkRefused(path: string, cause: unknown): P2pfxError {
  if ((cause as NodeJS.ErrnoException).code !== 'ELOOP') return cause as P2pfxError;
  return new P2pfxError('INVALID_ARGUMENT', `${escapePath(path)} is a symbolic link: p2pfx does not write through it`, {
    hint: 'p2pfx keeps unfinished downloads there; remove what is in the way (it was not made by p2pfx), then get again.', cause,
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

function bad(message: string, cause?: unknown): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', message, cause === undefined ? {} : { cause });
}
