// Folders (DESIGN "Formats > Folder, packed"). `send DIR` sends a folder as ONE transfer: its
// files packed into shared chunks (core/folder-pack.ts), the index after them, one key, one signed
// manifest (version 3); the layout is recorded so that the next send keeps every unchanged chunk.
// `getFolder` reads packed folders (transfer/folder-packed.ts) and, still, folders of the first
// format: member files each sent as a file of its own (metadata inFolder), then a v1 index
// (core/folder-index.ts) sent as one more file of kind 'folder', which records each member's SHA-256.
//
// A receiver checks every path of the index before it writes anything, builds the tree in a
// staging folder of its own inside OUT/.p2pfx-partial/, never following a symbolic link, and shows
// it under its final name with one rename: no half-built folder ever appears under a final name.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, type Stats } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { keepsPartial, P2pfxError } from '../core/errors.js';
import {
  checkFolderEntries, escapePath, parseFolderIndex, MAX_FOLDER_DEPTH, MAX_FOLDER_ENTRIES, MAX_FOLDER_INDEX_BYTES,
  MAX_FOLDER_PATH_BYTES, type FolderFileEntry, type FolderIndex,
} from '../core/folder-index.js';
import { isFileId } from '../core/ids.js';
import { DEFAULT_CHUNK_BYTES } from '../core/limits.js';
import { checkFileName, PACKED_MANIFEST_VERSION, plaintextBytes, type Manifest } from '../core/manifest.js';
import type { PeerClient, Recipient } from '../net/client.js';
import { checkManifest } from '../pki/manifest-trust.js';
import { writeFileAtomic } from '../store/fs-atomic.js';
import type { LocalNode } from '../store/local-node.js';
import { acquirePidLock } from '../store/pid-lock.js';
import { CryptoPool } from './crypto-pool.js';
import { firstManifest, getFile, receiveFile, PARTIAL_DIR, type GetResult } from './get.js';
import { receivePacked } from './folder-packed.js';
import { Swarm } from './swarm.js';
import { ownDir, publishDir, Staging, TreeBuilder, type LocalChanges } from './folder-tree.js';
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

// =============================== sending ===============================

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
  return { source: { key, stamp, size: walked.files.reduce((sum, f) => sum + f.size, 0) + indexBytes, chunks, metadata: { kind: 'folder', indexBytes } }, indexPath };
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
 * index to the peer — with the default home (the current directory), `send .` would. Refused.
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

// =============================== receiving ===============================

export interface GetFolderOptions {
  node: LocalNode;
  /**
   * Where the folder comes from, as for getFile: one peer, or several. With neither, this node's
   * own store only — a folder sent to this node (what the inbox does).
   */
  client?: PeerClient;
  clients?: readonly PeerClient[];
  /** The file id of the folder index. */
  folderFileId: string;
  /** Where the folder lands (as OUT/NAME, or NAME (1)…); the node's received/ by default. */
  outDir?: string;
  password?: string | undefined;
  /** Asked once, when the first file needs a password; the answer serves the whole folder. */
  askPassword?: (() => Promise<string>) | undefined;
  concurrency?: number;
  onProgress?: ProgressListener;
  pool?: CryptoPool;
  /** Stops between chunks (CANCELLED); what was done stays for a later run. */
  signal?: AbortSignal;
  /** A packed folder's earlier copy to update in place (the inbox, for a newer version from its sender). */
  replace?: string;
}

export interface GetFolderResult {
  /** When an earlier copy was updated in place: the files the receiver had changed or added there, kept. */
  localChanges?: LocalChanges | null;
  folderFileId: string;
  name: string;
  /** Where the folder landed. */
  path: string;
  /** SHA-256 of a v1 folder index (which names every file's SHA-256); null for a packed folder. */
  sha256: string | null;
  files: number;
  dirs: number;
  bytes: number;
  fetchedChunks: number;
  localChunks: number;
  /** Member files found complete and checked in the staging folder of an earlier, interrupted run (v1 folders). */
  resumedFiles: number;
  /** Chunks of a packed folder found written by an earlier, interrupted run. */
  resumedChunks?: number;
  /** Chunks fetched from each peer, by its address, over all member files. */
  fromPeers: Record<string, number>;
  /** What went wrong with a peer on the way, not fatal while another had the chunk (as getFile reports). */
  peerProblems: GetResult['peerProblems'];
}

/**
 * Fetches a folder: its index first (small; checked whole before anything else is written), then
 * each member file into the staging folder, each checked against the index's size and SHA-256,
 * then the tree built there and renamed to OUT/NAME — or NAME (1), NAME (2)… never over anything.
 *
 * Staging, all inside OUT/.p2pfx-partial/<folderFileId>.dir/: `index/` (the index download,
 * removed once read), `fetch/` (member downloads; their `.p2pfx-partial/<fileId>.part` resume as
 * any download's), `files/<fileId>` (members fetched and checked), `tree/` (built last, then
 * renamed), and beside it `<folderFileId>.dir.lock` (one writer at a time: TRANSFER_BUSY). A
 * transport failure keeps fetch/ and files/ for the next run; an integrity failure (bad index,
 * corrupt member) removes the staging folder; nothing outside it is ever removed.
 */
export async function getFolder(opts: GetFolderOptions): Promise<GetFolderResult> {
  const { node, folderFileId } = opts;
  if (!isFileId(folderFileId)) throw new P2pfxError('INVALID_ID', `not a file id: ${escapePath(folderFileId)}`);
  const outDir = opts.outDir ?? node.home.receivedDir;
  await mkdir(outDir, { recursive: true });
  // Refused, not removed, when a link or a file stands there: neither is ours.
  const partDir = await ownDir(join(outDir, PARTIAL_DIR));
  const release = await lockStaging(join(partDir, `${folderFileId}.dir.lock`), folderFileId);
  const pool = opts.pool ?? new CryptoPool();
  try {
    const stage = new Staging(await ownDir(join(partDir, `${folderFileId}.dir`)));
    const clients = opts.clients ?? (opts.client ? [opts.client] : []);
    const manifest = clients.length === 0 ? await storedManifest(node, folderFileId) : await firstManifest(clients, folderFileId, node);
    if (manifest.version === PACKED_MANIFEST_VERSION) return await getPacked(opts, manifest, clients, outDir, stage, pool);
    return await assembleFolder(opts, outDir, stage, new MemberSource(opts, pool));
  } finally {
    await release();
    await rmdir(partDir).catch(() => undefined);
    if (!opts.pool) await pool.close();
  }
}

/** A manifest this node holds (a folder sent to it), checked again: its signer may be revoked since. */
async function storedManifest(node: LocalNode, fileId: string): Promise<Manifest> {
  const raw = node.db.getManifest(fileId);
  if (!raw) throw new P2pfxError('MANIFEST_NOT_FOUND', `folder ${fileId} is not held by this node`);
  return checkManifest(raw, node.creds.caCertPem, node.revocation.current());
}

/** A packed folder (one manifest): transfer/folder-packed.ts, with this module's staging rules. */
async function getPacked(opts: GetFolderOptions, manifest: Manifest, clients: readonly PeerClient[], outDir: string, stage: Staging, pool: CryptoPool): Promise<GetFolderResult> {
  const swarm = clients.length === 0 ? null : new Swarm(clients);
  try {
    const r = await receivePacked({
      node: opts.node, manifest, swarm, outDir, stage, pool, password: opts.password, askPassword: opts.askPassword,
      concurrency: opts.concurrency, onProgress: opts.onProgress, signal: opts.signal, ...(opts.replace === undefined ? {} : { replace: opts.replace }),
    });
    return {
      folderFileId: manifest.fileId, name: r.name, path: r.path, sha256: null, files: r.files, dirs: r.dirs, bytes: r.bytes,
      fetchedChunks: r.fetchedChunks, localChunks: r.localChunks, resumedFiles: 0, resumedChunks: r.resumedChunks, localChanges: r.localChanges,
      fromPeers: swarm?.counts() ?? {}, peerProblems: swarm?.problems ?? [],
    };
  } catch (err) {
    // A transport failure keeps what was written (and its count) for the next run; bad data keeps nothing.
    if (!keepsPartial(err)) await rm(stage.root, { recursive: true, force: true });
    else await rmdir(stage.root).catch(() => undefined); // kept only when something was written
    throw err;
  }
}

async function assembleFolder(opts: GetFolderOptions, outDir: string, stage: Staging, source: MemberSource): Promise<GetFolderResult> {
  const { node, folderFileId } = opts;
  try {
    const { index, name, sha256: indexSha } = await fetchIndex(source, folderFileId, await stage.fresh('index'));
    await rm(stage.sub('index'), { recursive: true, force: true });

    const files = index.entries.filter((e): e is FolderFileEntry => e.type === 'file');
    const dirs = index.entries.filter((e) => e.type === 'dir').length;
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    const progress = new FolderGetProgress(opts.onProgress, name, totalBytes, files.length);
    const fetchDir = await ownDir(stage.sub('fetch'));
    const doneDir = await ownDir(stage.sub('files'));
    let resumedFiles = 0;
    for (const f of files) {
      const done = join(doneDir, f.fileId);
      if (await holdsChecked(done, f)) {
        resumedFiles++;
      } else {
        await rm(done, { force: true });
        await ownDir(join(fetchDir, PARTIAL_DIR));
        const r = await source.fetch(f.fileId, fetchDir, `${escapePath(f.path)} in folder ${escapePath(name)}`, (p) => progress.file(f.path, p));
        if (r.size !== f.size || r.sha256 !== f.sha256) {
          await rm(r.path, { force: true });
          throw new P2pfxError('FILE_CORRUPT', `file ${escapePath(f.path)} of folder ${escapePath(name)} (${f.fileId}) is ${r.size} bytes with SHA-256 ${r.sha256}, the folder index says ${f.size} bytes and ${f.sha256}`);
        }
        await rename(r.path, done);
      }
      progress.fileDone(f.path, f.size);
    }

    const tree = new TreeBuilder(stage.sub('tree'));
    await tree.start();
    for (const e of [...index.entries].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      if (e.type === 'dir') await tree.dir(e.path);
      else await tree.file(e.path, join(doneDir, e.fileId));
    }
    const path = await publishDir(tree.root, outDir, name);
    node.db.noteReceived(folderFileId, path, indexSha);
    for (const f of files) node.db.noteReceived(f.fileId, join(path, ...f.path.split('/')), f.sha256);
    await rm(stage.root, { recursive: true, force: true });
    progress.done();
    return {
      folderFileId, name, path, sha256: indexSha, files: files.length, dirs, bytes: totalBytes,
      fetchedChunks: source.fetchedChunks, localChunks: source.localChunks, resumedFiles, fromPeers: source.fromPeers, peerProblems: source.peerProblems,
    };
  } catch (err) {
    if (keepsPartial(err)) {
      // Members fetched and checked stay for the next run, with fetch/'s partial; nothing else.
      await rm(stage.sub('index'), { recursive: true, force: true });
      await rm(stage.sub('tree'), { recursive: true, force: true });
      for (const dir of [join(stage.sub('fetch'), PARTIAL_DIR), stage.sub('fetch'), stage.sub('files'), stage.root]) await rmdir(dir).catch(() => undefined);
    } else {
      await rm(stage.root, { recursive: true, force: true });
    }
    throw err;
  }
}

/** One writer per staging folder, as get.ts has one per partial file (store/pid-lock.ts). */
function lockStaging(lockPath: string, folderFileId: string): Promise<() => Promise<void>> {
  return acquirePidLock(lockPath, (pid) => new P2pfxError('TRANSFER_BUSY', `folder ${folderFileId} is already being assembled into this folder by p2pfx process ${pid}`));
}

/** Fetches the folder index into `dir`, reads it (bounded) and checks it whole. */
async function fetchIndex(source: MemberSource, folderFileId: string, dir: string): Promise<{ index: FolderIndex; name: string; sha256: string }> {
  const r = await source.fetch(folderFileId, dir, folderFileId, (p) => {
    // A peer cannot make us download a film as a folder index: stop at the first chunk.
    if (p.totalBytes > MAX_FOLDER_INDEX_BYTES) throw notAnIndex(folderFileId, `it is ${p.totalBytes} bytes, over the ${MAX_FOLDER_INDEX_BYTES} a folder index may have`);
  }, MAX_FOLDER_INDEX_BYTES);
  if (r.size > MAX_FOLDER_INDEX_BYTES) throw notAnIndex(folderFileId, `it is ${r.size} bytes, over the ${MAX_FOLDER_INDEX_BYTES} a folder index may have`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(r.path, 'utf8'));
  } catch (err) {
    throw notAnIndex(folderFileId, 'it is not JSON', err);
  }
  return { index: parseFolderIndex(json), name: r.name, sha256: wholeDigest(r) };
}

/**
 * The whole-file SHA-256 of a folder member or index, which the folder format requires (a
 * manifest without one cannot be part of a folder: FILE_CORRUPT).
 */
function wholeDigest(r: { fileId: string; sha256: string | null }): string {
  if (r.sha256 === null) throw new P2pfxError('FILE_CORRUPT', `file ${r.fileId} belongs to a folder but its sender recorded no SHA-256 for it`);
  return r.sha256;
}

function notAnIndex(fileId: string, why: string, cause?: unknown): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', `file ${fileId} is not a folder index: ${why}`, { hint: 'Fetch a file with `get`, a folder by the id `files` lists for it.', cause });
}

/** Whether `path` is already the checked member `f` (a file, not a link, of its size and SHA-256). */
async function holdsChecked(path: string, f: FolderFileEntry): Promise<boolean> {
  const info = await lstat(path).catch(() => null);
  if (!info || !info.isFile() || info.size !== f.size) return false;
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest('hex') === f.sha256;
}

/**
 * Where member files come from: the peers given (getFile), or this node's store only
 * (receiveFile, the manifest checked again: the signer may have been revoked since).
 */
class MemberSource {
  fetchedChunks = 0;
  localChunks = 0;
  readonly fromPeers: Record<string, number> = {};
  readonly peerProblems: GetResult['peerProblems'] = [];
  private password: string | undefined;

  constructor(private readonly opts: GetFolderOptions, private readonly pool: CryptoPool) {
    this.password = opts.password;
  }

  async fetch(fileId: string, outDir: string, label: string, onProgress: ProgressListener, maxBytes = Number.MAX_SAFE_INTEGER): Promise<GetResult> {
    const { node } = this.opts;
    let r: GetResult;
    if (this.opts.client === undefined && (this.opts.clients === undefined || this.opts.clients.length === 0)) {
      const raw = node.db.getManifest(fileId);
      if (!raw) throw new P2pfxError('MANIFEST_NOT_FOUND', `file ${fileId} (${label}) is not held by this node`);
      const manifest = await checkManifest(raw, node.creds.caCertPem, node.revocation.current());
      if (plaintextBytes(manifest) > maxBytes) throw notAnIndex(fileId, `it is ${plaintextBytes(manifest)} bytes, over the ${maxBytes} a folder index may have`);
      r = await receiveFile({ node, manifest, outDir, pool: this.pool });
    } else {
      const ask = this.opts.askPassword;
      r = await getFile({
        node, client: this.opts.client, clients: this.opts.clients, ref: fileId, outDir, pool: this.pool, concurrency: this.opts.concurrency, onProgress, signal: this.opts.signal,
        password: this.password,
        askPassword: ask && (async () => (this.password ??= await ask())),
      });
    }
    this.fetchedChunks += r.fetchedChunks;
    this.localChunks += r.localChunks;
    for (const [peer, n] of Object.entries(r.fromPeers ?? {})) this.fromPeers[peer] = (this.fromPeers[peer] ?? 0) + n;
    this.peerProblems.push(...(r.peerProblems ?? []));
    return r;
  }
}

/** Folder-wide progress from the members' own. */
class FolderGetProgress {
  private doneFiles = 0;
  private doneBytes = 0;
  private doneChunks = 0;
  /** Chunks of the member in flight, once its first event told. */
  private current = 0;

  constructor(private readonly listener: ProgressListener | undefined, private readonly name: string, private readonly totalBytes: number, private readonly totalFiles: number) {}

  file(path: string, p: TransferProgress): void {
    this.current = p.totalChunks;
    this.emit('fetching', path, p.doneBytes, p.totalBytes, this.doneBytes + p.doneBytes, this.doneChunks + p.doneChunks, this.doneChunks + p.totalChunks);
  }

  fileDone(path: string, size: number): void {
    this.doneFiles++;
    this.doneBytes += size;
    this.doneChunks += this.current;
    this.current = 0;
    this.emit('fetching', path, size, size, this.doneBytes, this.doneChunks, this.doneChunks);
  }

  done(): void {
    this.emit('done', '', 0, 0, this.totalBytes, this.doneChunks, this.doneChunks);
  }

  private emit(phase: TransferProgress['phase'], path: string, fileDoneBytes: number, fileTotalBytes: number, doneBytes: number, doneChunks: number, totalChunks: number): void {
    this.listener?.({
      phase, name: this.name, doneBytes: Math.min(this.totalBytes, doneBytes), totalBytes: this.totalBytes, doneChunks, totalChunks,
      folder: { path, fileDoneBytes, fileTotalBytes, doneFiles: this.doneFiles, totalFiles: this.totalFiles },
    });
  }
}
