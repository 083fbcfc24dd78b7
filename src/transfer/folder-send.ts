// Sending a folder (DESIGN "Formats > Folder, packed"): `send DIR` sends it as ONE transfer — its
// files packed into shared chunks (core/folder-pack.ts), the index after them, one key, one signed
// manifest (version 3). The tree is walked with lstat (links listed, never followed); the layout is
// recorded so that the next send keeps every unchanged chunk. Receiving is transfer/folder.ts.
import { createHash } from 'node:crypto';
import { lstatSync, type Stats } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { P2pfxError } from '../core/errors.js';
import { checkFolderEntries, escapePath, MAX_FOLDER_DEPTH, MAX_FOLDER_ENTRIES, MAX_FOLDER_PATH_BYTES } from '../core/folder-index.js';
import { DEFAULT_CHUNK_BYTES } from '../core/limits.js';
import { checkFileName, type Manifest } from '../core/manifest.js';
import type { PeerClient, Recipient } from '../net/client.js';
import { writeFileAtomic } from '../store/fs-atomic.js';
import type { LocalNode } from '../store/local-node.js';
import { CryptoPool } from './crypto-pool.js';
import type { ProgressListener, TransferProgress } from './progress.js';
import { checkChunkSize, sendPacked, type PackedSource } from './send.js';
import type { ReadPart } from './crypto-tasks.js';
import { packedIndex, relayoutMembers, type LaidChunk, type PackedEntry } from '../core/folder-pack.js';
import { fileKeyFor } from './file-key.js';
import { prepareWrap } from '../core/envelope.js';
import { collectNow } from '../core/gc.js';

/** Entries looked at between two turns of the event loop while a folder is walked. */
const WALK_YIELD_EVERY = 1000;

/** Folder indexes this node sent, kept so that an unchanged folder is sent again under the same file id. */
export const SENT_FOLDERS_DIR = 'folders';

export interface SendFolderOptions {
  node: LocalNode;
  client: PeerClient;
  /** The folder to send; itself may be a symbolic link (the user named it), nothing inside it is followed. */
  dir: string;
  /** More nodes the folder is for (beyond the peer): each gets an envelope in every manifest. */
  recipients?: readonly Recipient[];
  password?: string | undefined;
  chunkSize?: number;
  /** Chunks in flight per file. */
  concurrency?: number;
  /** As for sendFile: false makes the peer a storage peer for the whole folder. */
  peerKey?: boolean;
  onProgress?: ProgressListener;
  pool?: CryptoPool;
  /** Stops between chunks (CANCELLED); what was done stays for a later run. */
  signal?: AbortSignal;
}

/** An entry of the source folder that was not sent. */
export interface SkippedEntry { path: string; type: 'symlink' | 'special' }

export interface SendFolderResult {
  /** The file id of the folder index: what `get` takes to fetch the folder. */
  folderFileId: string;
  name: string;
  files: number;
  /** Directories inside the folder (empty ones included; the folder itself not counted). */
  dirs: number;
  /** Plaintext bytes of all member files. */
  bytes: number;
  /** Chunks of the member files and of the index. */
  chunkCount: number;
  /** Chunks PUT in this run; the rest the peer already held. */
  sentChunks: number;
  /** Symbolic links and special files (sockets, FIFOs, devices): listed, never sent or followed. */
  skipped: SkippedEntry[];
  /** Where this node keeps the folder's index as sent (JSON: every directory, every file's size, mode, mtime and place). */
  indexPath: string;
  /** The folder's manifest (a packed folder, version 3). */
  manifest: Manifest;
  /** The peer the folder was addressed to, or null for storage only. */
  recipient: Recipient | null;
}

interface SourceFile { path: string; abs: string; size: number; dev: number; ino: number; mode: number; mtimeMs: number }
interface WalkedFolder { root: string; name: string; files: SourceFile[]; dirs: string[]; skipped: SkippedEntry[] }

/**
 * Sends a folder: every regular file below it (one after the other), then the folder index.
 * Everything that can make a receiver refuse the folder (a name, a count, a depth) is checked
 * before the first byte leaves; symbolic links and special files are skipped and listed.
 */
export async function sendFolder(opts: SendFolderOptions): Promise<SendFolderResult> {
  const chunkSize = checkChunkSize(opts.chunkSize ?? DEFAULT_CHUNK_BYTES);
  // The password's key is derived beside the walk and the upload, not after them.
  if (opts.password !== undefined) prepareWrap(opts.password);
  const walked = await walkFolder(opts.dir);
  await refuseOwnHome(opts.node, walked.root, opts.dir);
  checkFolderEntries([...walked.dirs.map((path) => ({ path, type: 'dir' as const })), ...walked.files.map((f) => ({ path: f.path, type: 'file' as const }))],
    (message) => new P2pfxError('INVALID_ARGUMENT', `cannot send ${escapePath(opts.dir)}: ${message}`, { hint: 'Rename or move what is named, then send the folder again.' }));
  // Asked once, not per file: it proves the peer is there and who it is before any file is read.
  const recipient = opts.peerKey === false ? null : await opts.client.recipient();
  const recipients = [...(recipient ? [recipient] : []), ...(opts.recipients ?? [])];
  const pool = opts.pool ?? new CryptoPool();
  const totalBytes = walked.files.reduce((sum, f) => sum + f.size, 0);
  // Progress in bytes and chunks of the stream (the index included), files counted as their
  // bytes go: the chunks leave in the layout's order.
  const report = (phase: TransferProgress['phase'], p: TransferProgress | null) => opts.onProgress?.({
    phase, name: walked.name,
    doneBytes: Math.min(totalBytes, p?.doneBytes ?? totalBytes), totalBytes,
    doneChunks: p?.doneChunks ?? 0, totalChunks: p?.totalChunks ?? 0,
    folder: { path: '', fileDoneBytes: 0, fileTotalBytes: 0, doneFiles: p === null ? walked.files.length : filesBefore(p.doneBytes), totalFiles: walked.files.length },
  });
  const ends: number[] = [];
  for (const f of walked.files) ends.push((ends.at(-1) ?? 0) + f.size);
  const filesBefore = (bytes: number) => {
    let lo = 0;
    for (let hi = ends.length; lo < hi;) {
      const mid = (lo + hi) >> 1;
      if (ends[mid]! <= bytes) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // One transfer (DESIGN "Formats > Folder, packed"): the members' bytes packed into chunks, the
  // index after them, one key, one manifest, one set of envelopes — one scrypt with a password.
  try {
    const plan = await planPacked(opts.node, walked, chunkSize);
    // What planning built and dropped (the previous layout, the index as objects, their JSON) is
    // collected and its pages given back before the upload: a 20,000-file folder's heap falls
    // from ~100 to ~40 MiB (V8 keeps the pages of a grown heap after an ordinary collection).
    collectNow();
    const sent = await sendPacked({
      ...opts, path: walked.root, pool, recipients, peerKey: false, name: walked.name,
      onProgress: (p) => report(p.phase === 'done' ? 'sending' : p.phase, p),
    }, plan.source, chunkSize);
    report('done', null);
    return {
      folderFileId: sent.fileId, name: walked.name, files: walked.files.length, dirs: walked.dirs.length, bytes: totalBytes,
      chunkCount: sent.chunkCount, sentChunks: sent.sentChunks, skipped: walked.skipped, indexPath: plan.indexPath, manifest: sent.manifest, recipient,
    };
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/**
 * Lays a walked folder out for sending: its key (kept with the folder across versions: the
 * journal stamp names the root, not the contents), its chunks (every unchanged one keeping its
 * index and bytes from the recorded layout; what changed under indexes never used under this
 * key), and its index, written in the home where the next send finds it. The layout is recorded
 * before anything leaves, so an interrupted send resumes with this very layout. Only what the
 * upload needs is returned: everything else built here is garbage once it returns.
 */
async function planPacked(node: LocalNode, walked: WalkedFolder, chunkSize: number): Promise<{ source: PackedSource; indexPath: string }> {
  const stamp = { path: `folder:${walked.root}`, chunkSize, size: 0, mtimeMs: 0 };
  const key = fileKeyFor(node, stamp);
  const layoutPath = sentFolderPath(node, walked.root, 'layout.json');
  const previous = await readLaidOut(layoutPath, key.fileId, chunkSize);
  let nextIndex = 1 + maxOf(key.sealed.keys(), previous?.chunks.map((c) => c.index) ?? [], previous?.indexChunks ?? []);
  const stamps = walked.files.map((f) => `${f.size}:${f.mtimeMs}:${f.mode}:${f.dev}:${f.ino}`);
  const now = new Map(walked.files.map((f, i) => [f.path, stamps[i]!]));
  const same = (path: string) => previous !== null && previous.stamps.get(path) === now.get(path);
  const layout = relayoutMembers(walked.files, chunkSize, previous?.chunks ?? [], same, nextIndex);
  nextIndex = 1 + maxOf([nextIndex - 1], layout.chunks.map((c) => c.index));
  const json = JSON.stringify(packedIndex([
    ...walked.dirs.map((path): PackedEntry => ({ path, type: 'dir' })),
    ...walked.files.map((f, i): PackedEntry => ({ path: f.path, type: 'file', size: f.size, mode: f.mode, mtimeMs: f.mtimeMs, ...layout.places[i] })),
  ]));
  const indexBytes = Buffer.byteLength(json);
  const indexSha = createHash('sha256').update(json).digest('hex');
  const indexPath = await writeSentIndex(node, walked.root, json, previous?.indexSha === indexSha);
  const indexCount = Math.ceil(indexBytes / chunkSize);
  const indexChunks = previous?.indexSha === indexSha && previous.indexChunks.length === indexCount
    ? previous.indexChunks
    : Array.from({ length: indexCount }, () => nextIndex++);
  const part = (f: SourceFile, position: number, length: number): ReadPart => ({ path: f.abs, position, length, size: f.size, ino: f.ino });
  const chunks = layout.chunks.map((c) => ({ index: c.index, length: c.length, parts: c.parts.map((p) => part(walked.files[p.member]!, p.from, p.length)) }));
  indexChunks.forEach((index, k) => {
    const at = k * chunkSize;
    const length = Math.min(chunkSize, indexBytes - at);
    chunks.push({ index, length, parts: [{ path: indexPath, position: at, length, size: indexBytes }] });
  });
  await writeFileAtomic(layoutPath, JSON.stringify({
    version: LAYOUT_RECORD_VERSION, fileId: key.fileId, chunkSize, indexSha, indexChunks,
    paths: walked.files.map((f) => f.path), stamps,
    chunks: layout.chunks.map((c) => [c.index, c.length, ...c.parts.flatMap((p) => [p.member, p.from, p.length])]),
  } satisfies LayoutRecord));
  return { source: { key, stamp, size: walked.files.reduce((sum, f) => sum + f.size, 0) + indexBytes, chunks, metadata: { kind: 'folder', indexBytes, files: walked.files.length, dirs: walked.dirs.length } }, indexPath };
}

/**
 * The folder's tree, read with lstat: regular files and directories are kept, symbolic links and
 * special files listed as skipped (a link is never followed, in or out of the tree). Names a
 * receiver would refuse stop the send here.
 */
async function walkFolder(dir: string): Promise<WalkedFolder> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new P2pfxError('FILE_NOT_FOUND', `no such folder: ${dir}`, { cause: err });
    if (code === 'EACCES') throw new P2pfxError('FILE_NOT_FOUND', `cannot read ${dir}: permission denied`, { hint: 'Check the folder\'s permissions.', cause: err });
    throw err;
  }
  if (!(await stat(root)).isDirectory()) throw new P2pfxError('INVALID_ARGUMENT', `${dir} is not a folder`, { hint: 'Send a file with `send FILE`, a folder with `send DIR`.' });
  const name = basename(root);
  try {
    checkFileName(name);
  } catch (err) {
    throw new P2pfxError('INVALID_ARGUMENT', `the folder ${escapePath(dir)} has no name a receiver would accept`, { hint: 'Send a folder below the root, with a plain name.', cause: err });
  }
  const walked: WalkedFolder = { root, name, files: [], dirs: [], skipped: [] };
  const unsafe: string[] = [];
  let seen = 0;
  const visit = async (rel: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(rel === '' ? root : join(root, rel))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') {
        throw new P2pfxError('FILE_NOT_FOUND', `cannot read folder ${escapePath(join(root, rel))}: permission denied`, { hint: 'Check the folder\'s permissions.', cause: err });
      }
      throw err;
    }
    for (const n of names) {
      const path = rel === '' ? n : `${rel}/${n}`;
      try {
        checkFileName(n);
      } catch {
        unsafe.push(path);
        continue;
      }
      if (Buffer.byteLength(path) > MAX_FOLDER_PATH_BYTES) throw tooMuch(`the path ${escapePath(path)} is over ${MAX_FOLDER_PATH_BYTES} bytes`);
      // Synchronous: a few microseconds each, where an awaited one costs a trip through libuv's
      // pool (20,000 files: ~1 s of waiting). The walk yields now and then instead.
      const info: Stats | undefined = lstatSync(join(root, path), { throwIfNoEntry: false });
      if (info === undefined) continue; // gone since readdir: not part of the folder
      if (++seen % WALK_YIELD_EVERY === 0) await yieldToLoop();
      if (info.isSymbolicLink()) walked.skipped.push({ path, type: 'symlink' });
      else if (info.isDirectory()) {
        if (depth + 1 > MAX_FOLDER_DEPTH) throw tooMuch(`${escapePath(path)} is more than ${MAX_FOLDER_DEPTH} folders deep`);
        walked.dirs.push(path);
        await visit(path, depth + 1);
      } else if (info.isFile()) walked.files.push({ path, abs: join(root, path), size: info.size, dev: info.dev, ino: info.ino, mode: info.mode & 0o7777, mtimeMs: info.mtimeMs });
      else walked.skipped.push({ path, type: 'special' });
      if (walked.files.length + walked.dirs.length > MAX_FOLDER_ENTRIES) throw tooMuch(`it holds more than ${MAX_FOLDER_ENTRIES} files and folders`);
    }
  };
  await visit('', 0);
  if (unsafe.length > 0) {
    throw new P2pfxError('INVALID_ARGUMENT', `cannot send ${escapePath(dir)}: ${unsafe.length} name(s) have control, bidirectional-override or separator characters, or are too long: ${unsafe.slice(0, 5).map(escapePath).join(', ')}${unsafe.length > 5 ? ', …' : ''}`, {
      hint: 'Rename them to plain names, then send the folder again.',
    });
  }
  return walked;

  function tooMuch(why: string): P2pfxError {
    return new P2pfxError('INVALID_ARGUMENT', `cannot send ${escapePath(dir)}: ${why}`, { hint: 'Send a smaller folder, or its subfolders one by one.' });
  }
}

/**
 * A folder holding this node's home would carry its private keys (certs/), its chunks and its
 * index to the peer — with a home in the current folder (the old default), `send .` would. Refused.
 */
async function refuseOwnHome(node: LocalNode, root: string, dir: string): Promise<void> {
  const home = await realpath(node.home.root).catch(() => node.home.root);
  if (home === root || home.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new P2pfxError('INVALID_ARGUMENT', `${escapePath(dir)} holds this node's home (${escapePath(home)}): its certs/ hold private keys, which p2pfx never sends`, {
      hint: 'Send a folder that does not hold the home (a subfolder), or keep the home elsewhere with --home.',
    });
  }
}

/**
 * Writes the folder index where the next send of the same folder finds it: rewritten only when
 * its bytes changed (`unchanged`: the same SHA-256 as the recorded layout's), so an unchanged
 * folder keeps its journal entry — same key, same file id, no chunk sent again, and a receiving
 * node sees a folder it already has.
 */
async function writeSentIndex(node: LocalNode, root: string, json: string, unchanged: boolean): Promise<string> {
  const path = sentFolderPath(node, root, 'json');
  const held = await stat(path).then((st) => st.size, () => -1);
  if (!unchanged || held !== Buffer.byteLength(json)) await writeFileAtomic(path, json);
  return path;
}

/** The largest number of any of them, or -1 (no spread: a folder may have a million chunks). */
function maxOf(...lists: Array<Iterable<number>>): number {
  let max = -1;
  for (const list of lists) for (const n of list) if (n > max) max = n;
  return max;
}

/** Where this node keeps what it sent of the folder at `root` (its index, its layout). */
function sentFolderPath(node: LocalNode, root: string, ext: 'json' | 'layout.json'): string {
  return join(node.home.root, SENT_FOLDERS_DIR, `${createHash('sha256').update(root).digest('hex').slice(0, 32)}.${ext}`);
}

/** The layout a packed folder was last sent with: its chunks, and each file's stamp then. */
interface LaidOut { indexSha: string; indexChunks: number[]; stamps: Map<string, string>; chunks: LaidChunk[] }

/**
 * The layout record as kept in the home: each path once, beside its stamp; each chunk as
 * [index, length, then member, from, length for each part], members numbered as in `paths`.
 * (Version 1 spelled every path in every part and kept the stamps as an object: ~40 % larger, and
 * a 20,000-file send held both it and the new one while planning. It is read as no record: the
 * next send lays the folder out anew, under fresh indexes of the same key.)
 */
interface LayoutRecord {
  version: typeof LAYOUT_RECORD_VERSION; fileId: string; chunkSize: number; indexSha: string; indexChunks: number[];
  paths: string[]; stamps: string[]; chunks: number[][];
}

const LAYOUT_RECORD_VERSION = 2;

/** The recorded layout, when it is of this key and chunk size (else none: everything is laid out anew). */
async function readLaidOut(path: string, fileId: string, chunkSize: number): Promise<LaidOut | null> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as LayoutRecord;
    if (r.version !== LAYOUT_RECORD_VERSION || r.fileId !== fileId || r.chunkSize !== chunkSize
      || !Array.isArray(r.chunks) || !Array.isArray(r.indexChunks) || !Array.isArray(r.paths) || r.stamps.length !== r.paths.length) return null;
    const chunks = r.chunks.map(([index, length, ...flat]): LaidChunk => {
      const parts: LaidChunk['parts'] = [];
      for (let k = 0; k + 2 < flat.length; k += 3) parts.push({ path: r.paths[flat[k]!]!, from: flat[k + 1]!, length: flat[k + 2]! });
      return { index: index!, length: length!, parts };
    });
    return { indexSha: r.indexSha, indexChunks: r.indexChunks, stamps: new Map(r.paths.map((p, i) => [p, r.stamps[i]!])), chunks };
  } catch {
    return null;
  }
}

