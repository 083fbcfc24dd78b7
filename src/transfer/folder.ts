// Receiving a folder (DESIGN "Formats > Folder, packed"). `getFolder` reads packed folders
// (transfer/folder-packed.ts) and, still, folders of the first format: member files each sent as a
// file of its own (metadata inFolder), then a v1 index (core/folder-index.ts) sent as one more file
// of kind 'folder', which records each member's SHA-256. Sending is transfer/folder-send.ts.
//
// A receiver checks every path of the index before it writes anything, builds the tree in a
// staging folder of its own inside OUT/.p2pfx-partial/, never following a symbolic link, and shows
// it under its final name with one rename: no half-built folder ever appears under a final name.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { keepsPartial, P2pfxError } from '../core/errors.js';
import { escapePath, parseFolderIndex, MAX_FOLDER_INDEX_BYTES, type FolderFileEntry, type FolderIndex } from '../core/folder-index.js';
import { isFileId } from '../core/ids.js';
import { PACKED_MANIFEST_VERSION, plaintextBytes, type Manifest } from '../core/manifest.js';
import type { PeerClient } from '../net/client.js';
import { checkManifest } from '../pki/manifest-trust.js';
import type { LocalNode } from '../store/local-node.js';
import { acquirePidLock } from '../store/pid-lock.js';
import { CryptoPool } from './crypto-pool.js';
import { firstManifest, getFile, receiveFile, PARTIAL_DIR, type GetResult } from './get.js';
import { receivePacked } from './folder-packed.js';
import { Swarm } from './swarm.js';
import { ownDir, publishDir, Staging, TreeBuilder, type LocalChanges } from './folder-tree.js';
import type { ProgressListener, TransferProgress } from './progress.js';

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
  /** Where the folder lands (as OUT/NAME, or NAME (1)…); the node's downloads folder by default. */
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
  const outDir = opts.outDir ?? node.downloadsDir;
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
