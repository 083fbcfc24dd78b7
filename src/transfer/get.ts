// Download flow (DESIGN "Flows > Receive / download"): manifest → verify → unlock the key →
// fetch the chunks not held locally, checking each id → open each with its place → write the
// plaintext in order to OUT/.p2pfx-partial/ID.part → check size and SHA-256 → rename to OUT/NAME, never overwriting.
import { constants } from 'node:fs';
import { link, mkdir, open, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { blobNoncePrefix } from '../core/chunk.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import { keepsPartial, P2pfxError } from '../core/errors.js';
import { openMetadata, plaintextBytes, type FileMetadata, type Manifest } from '../core/manifest.js';
import type { PeerClient } from '../net/client.js';
import { checkManifest } from '../pki/manifest-trust.js';
import type { LocalNode } from '../store/local-node.js';
import { acquirePidLock } from '../store/pid-lock.js';
import { throwIfCancelled } from './send.js';
import { resolveFileRefAcross } from './catalog.js';
import { BufferRing } from '../core/buffer-ring.js';
import { CryptoPool, type FileWriter } from './crypto-pool.js';
import { BulkFetch, type Want } from './bulk-fetch.js';
import { Swarm } from './swarm.js';
import type { ProgressListener } from './progress.js';
import { unlockDataKey } from './unlock.js';
import { ChunkSource, WRITES_PER_WORKER } from './chunk-source.js';

/** Chunks asked of one peer and not yet answered (--concurrency). */
export const DEFAULT_GET_CONCURRENCY = 8;
/** The window of chunks fetched ahead grows with the peers up to this many peers' worth (16 MiB at 1 MiB chunks). */
const MAX_WINDOW_PEERS = 2;
/** Where partial downloads wait, inside the output folder, named by file id. */
export const PARTIAL_DIR = '.p2pfx-partial';
/** A chunk whose bytes do not match its id is asked for this many times in all. */
const MAX_NAME_SUFFIX = 9999;

export interface GetOptions {
  node: LocalNode;
  /** The peer to download from; or `clients`, several at once (a swarm). */
  client?: PeerClient;
  /** Peers to download from at once: each chunk from one that holds it, another on failure. */
  clients?: readonly PeerClient[];
  /** A file id, or a name from the peer's catalog. */
  ref: string;
  password?: string | undefined;
  askPassword?: (() => Promise<string>) | undefined;
  /** Where the file lands; the node's downloads folder by default (`get` gives the current folder or --out). */
  outDir?: string;
  concurrency?: number;
  onProgress?: ProgressListener;
  /** Workers that check and open chunks; made for the download and closed after it when not given. */
  pool?: CryptoPool;
  /** Stops the download between chunks (CANCELLED); the partial file stays for a later run. */
  signal?: AbortSignal;
}

export interface GetResult {
  fileId: string;
  name: string;
  path: string;
  size: number;
  /** The whole file's SHA-256, checked against the sender's, when the manifest records one (v1, folder members); else null. */
  sha256: string | null;
  chunkCount: number;
  fetchedChunks: number;
  localChunks: number;
  /** Chunks found already written and checked in the partial file of an earlier run. */
  resumedChunks: number;
  /** Chunks fetched from each peer, by its address. */
  fromPeers: Record<string, number>;
  /** What went wrong with a peer on the way (it failed, lacked a chunk, served bad bytes): reported, not fatal while another peer had the chunk. */
  peerProblems: Array<{ peer: string; code: string; message: string }>;
  /** The file was already in the folder, unchanged since it was received: nothing was written. */
  alreadyHere: boolean;
  /** An earlier version from the same sender, unchanged here, that this one replaced (receiveFile). */
  replaced: string | null;
}

export async function getFile(opts: GetOptions): Promise<GetResult> {
  const { node } = opts;
  const clients = opts.clients ?? (opts.client ? [opts.client] : []);
  if (clients.length === 0) throw new P2pfxError('INVALID_ARGUMENT', 'get needs at least one peer');
  const fileId = await resolveFileRefAcross(clients, node.creds, opts.ref, opts.password);
  const manifest = await firstManifest(clients, fileId, node);
  const label = opts.ref === fileId ? fileId : `${JSON.stringify(opts.ref)} (${fileId})`;
  return assemble({ ...opts, manifest, label, source: new Swarm(clients) });
}

/** The file's manifest from the first peer that has it (each is checked; they differ at most in envelopes). */
export async function firstManifest(clients: readonly PeerClient[], fileId: string, node: LocalNode): Promise<Manifest> {
  let last: unknown = null;
  for (const client of clients) {
    try {
      const manifest = await checkManifest(await client.getManifest(fileId), node.creds.caCertPem, node.revocation.current());
      if (manifest.fileId !== fileId) throw new P2pfxError('BAD_MANIFEST', `asked ${client.label} for file ${fileId}, it sent the manifest of ${manifest.fileId}`);
      return manifest;
    } catch (err) {
      last = err;
      if (clients.length === 1) throw err;
    }
  }
  throw last;
}

export interface ReceiveOptions {
  node: LocalNode;
  /** A manifest already checked (signature, signer, schema), addressed to this node. */
  manifest: Manifest;
  outDir?: string;
  pool?: CryptoPool;
  /**
   * An earlier version of this file from the same sender, at this path, unchanged since it was
   * received: the new one takes its place once whole (rename over it), instead of NAME (1).
   */
  replace?: string;
}

/**
 * Reassembles a file whose chunks this node holds in its store (they were sent to it), as a
 * download does: every chunk checked against its id, opened at its place, the whole file hashed,
 * published under a name never used yet (or over `replace`). Throws CHUNK_NOT_FOUND when a chunk
 * is absent.
 */
export async function receiveFile(opts: ReceiveOptions): Promise<GetResult> {
  return assemble({ ...opts, label: opts.manifest.fileId, source: null });
}

interface AssembleOptions extends Omit<GetOptions, 'client' | 'ref'> {
  manifest: Manifest;
  /** receiveFile: the earlier version this one replaces. */
  replace?: string;
  label: string;
  /** The peers to fetch what the local store lacks from; null: the local store only. */
  source: Swarm | null;
}

async function assemble(opts: AssembleOptions): Promise<GetResult> {
  const { node, manifest, label } = opts;
  const fileId = manifest.fileId;
  const fileIdBytes = Buffer.from(fileId, 'hex');
  const dataKey = await unlockDataKey(manifest.envelopes, fileIdBytes, node.creds, { password: opts.password, askPassword: opts.askPassword, label });
  const meta = openMetadata(manifest.metadata, dataKey, fileIdBytes, manifest.version);
  if (meta.size !== plaintextBytes(manifest)) {
    throw new P2pfxError('BAD_MANIFEST', `file ${label}: metadata says ${meta.size} bytes, chunks hold ${plaintextBytes(manifest)}`);
  }
  node.db.putManifest(manifest);

  const outDir = opts.outDir ?? node.downloadsDir;
  // Already received into this folder and not touched since: nothing to write, and no copy.
  const here = await unchangedCopy(node, fileId);
  if (here !== null && dirname(here) === resolve(outDir)) {
    opts.onProgress?.({ phase: 'done', name: meta.name, doneBytes: meta.size, totalBytes: meta.size, doneChunks: manifest.chunkCount, totalChunks: manifest.chunkCount });
    return {
      fileId, name: meta.name, path: here, size: meta.size, sha256: node.db.received(fileId)?.sha256 ?? null, chunkCount: manifest.chunkCount, fetchedChunks: 0, localChunks: 0,
      resumedChunks: 0, fromPeers: {}, peerProblems: [], alreadyHere: true, replaced: null,
    };
  }
  const partDir = join(outDir, PARTIAL_DIR);
  await mkdir(partDir, { recursive: true });
  // Partials are named by file id, beside the final name's folder (same filesystem for link()).
  const partPath = join(partDir, `${fileId}.part`);
  const release = await lockPartial(partPath, label);
  try {
    return await assembleLocked({ ...opts, dataKey, meta, outDir, partDir, partPath });
  } finally {
    await release();
    await removeIfEmpty(partDir);
  }
}

interface LockedOptions extends AssembleOptions {
  dataKey: Buffer;
  meta: FileMetadata;
  outDir: string;
  partDir: string;
  partPath: string;
}

async function assembleLocked(opts: LockedOptions): Promise<GetResult> {
  const { node, manifest, label, dataKey, meta, outDir, partDir, partPath } = opts;
  const fileId = manifest.fileId;
  const fileIdBytes = Buffer.from(fileId, 'hex');
  // 0600: what a node receives is readable by its owner only (other accounts on the machine may not).
  const fh = await open(partPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  const perPeer = Math.max(1, opts.concurrency ?? DEFAULT_GET_CONCURRENCY);
  const swarm = opts.source;
  // Fetched ahead of the chunk being written (at most two peers' worth), plus the chunk in the
  // worker and one waiting: what bounds memory, whatever the number of peers.
  const window = perPeer * Math.min(MAX_WINDOW_PEERS, swarm?.clients.length ?? 1);
  const pool = opts.pool ?? new CryptoPool();
  const blobs = new BufferRing(manifest.chunkSize + BLOB_OVERHEAD_BYTES, window + 2);
  await swarm?.locate(manifest.chunks.map((c) => c.id));
  const source = new ChunkSource(node, swarm ?? null, blobs);
  const place = (index: number) => ({ key: dataKey, fileId: fileIdBytes, index, last: index === manifest.chunkCount - 1 });
  let keepPartial = false;
  let prefixNoted = false;
  try {
    // One worker checks, opens and writes the chunks (and hashes the plaintext where the
    // manifest records a whole-file SHA-256), in order: plaintext stays there.
    const stream = { wholeHash: meta.sha256 !== undefined };
    let writer = pool.fileWriter(stream);
    let resumeAt = await verifiedPrefix(node, writer, fh, manifest, place, blobs);
    if (resumeAt < 0) {
      // A bad chunk inside the partial file: its hash stream saw it, so start over from nothing.
      await writer.digest();
      writer = pool.fileWriter(stream);
      resumeAt = 0;
    }
    let written = Math.min(resumeAt * manifest.chunkSize, meta.size);
    keepPartial = true;
    // What the local store holds (a storage peer) is read from it; the rest comes in bulk.
    const remaining = manifest.chunks.slice(resumeAt);
    const local = await source.localOf(remaining.map((c) => c.id));
    const remote: Want[] = remaining.filter((c) => !local.has(c.id)).map((c) => ({ id: c.id, size: c.size }));
    const bulk = swarm ? new BulkFetch(swarm, remote, { perPeer, window, alloc: source.alloc, release: (b) => blobs.give(b) }) : null;
    let taken = 0;
    let doneChunks = resumeAt;
    // Chunks opened and written at once: one when the whole file is hashed on the way (in order,
    // and a refetched chunk must not be hashed after its successor), else a few per worker: each
    // writes at its own offset, and a worker opens the next while the kernel copies the last.
    const writing = new Set<Promise<void>>();
    const parallel = stream.wholeHash ? 1 : pool.size * WRITES_PER_WORKER;
    let writeError: unknown = null;
    try {
      for (let index = resumeAt; index < manifest.chunkCount && writeError === null; index++) {
        throwIfCancelled(opts.signal, label);
        const id = manifest.chunks[index]!.id;
        const fetched = local.has(id) ? await source.fromStore(id) : await source.fromBulk(bulk, id, taken++);
        if (!prefixNoted) {
          node.db.notePartial(fileId, blobNoncePrefix(fetched.blob.subarray(0, fetched.length)).toString('hex'));
          prefixNoted = true;
        }
        const w: Promise<void> = source.openWrite(writer, { ...place(index), id, fd: fh.fd, position: index * manifest.chunkSize }, fetched).then(({ blob, plainLength }) => {
          blobs.give(blob);
          written += plainLength;
          opts.onProgress?.({ phase: 'fetching', name: meta.name, doneBytes: written, totalBytes: meta.size, doneChunks: ++doneChunks, totalChunks: manifest.chunkCount });
        }, (err: unknown) => {
          writeError ??= err;
        }).finally(() => writing.delete(w));
        writing.add(w);
        while (writing.size >= parallel) await Promise.race(writing);
      }
      while (writing.size > 0) await Promise.race(writing);
      if (writeError !== null) throw writeError;
    } finally {
      await Promise.allSettled(writing);
      bulk?.close();
    }
    const sha256 = await writer.digest();
    await fh.close();
    // Every chunk was authenticated at its place (AEAD bound to the file id, index and last
    // flag; ids from the signed manifest): what remains to check is the size, and the whole-file
    // SHA-256 where the sender recorded one.
    if (written !== meta.size || (meta.sha256 !== undefined && sha256 !== meta.sha256)) {
      keepPartial = false;
      const digests = meta.sha256 === undefined ? '' : ` with SHA-256 ${sha256}`;
      throw new P2pfxError('FILE_CORRUPT', `file ${label}: reassembled ${written} bytes${digests}, the sender recorded ${meta.size} bytes${meta.sha256 === undefined ? '' : ` and ${meta.sha256}`}`);
    }
    const path = opts.replace !== undefined ? await replaceWith(partPath, opts.replace) : await publish(partPath, outDir, meta.name);
    node.db.forgetPartial(fileId);
    const st = await stat(path);
    node.db.noteReceived(fileId, path, sha256, { size: st.size, mtimeMs: st.mtimeMs });
    await removeIfEmpty(partDir);
    opts.onProgress?.({ phase: 'done', name: meta.name, doneBytes: written, totalBytes: meta.size, doneChunks: manifest.chunkCount, totalChunks: manifest.chunkCount });
    return {
      fileId, name: meta.name, path, size: written, sha256, chunkCount: manifest.chunkCount, fetchedChunks: source.fetched, localChunks: source.local, resumedChunks: resumeAt,
      fromPeers: opts.source?.counts() ?? {}, peerProblems: opts.source?.problems ?? [], alreadyHere: false, replaced: opts.replace ?? null,
    };
  } catch (err) {
    await fh.close().catch(() => undefined);
    // What was written and checked stays for the next run, unless the source itself is wrong.
    const kept = keepPartial && keepsPartial(err);
    if (!kept) {
      await rm(partPath, { force: true });
      node.db.forgetPartial(fileId);
      await removeIfEmpty(partDir);
    }
    if (err instanceof P2pfxError && err.code === 'INSUFFICIENT_STORAGE') {
      // Said where: the folder that is full, and what of the download is kept for the next run.
      throw new P2pfxError('INSUFFICIENT_STORAGE', `no space left in ${outDir} to write ${meta.name}${kept ? `; what was received and checked is kept in ${partPath}` : ''}`, {
        cause: err, hint: `Free space in ${outDir} (or choose another folder with --out), then run the same command again${kept ? ': it resumes where it stopped' : ''}.`,
      });
    }
    throw err;
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/** One writer per partial file (store/pid-lock.ts). */
function lockPartial(partPath: string, label: string): Promise<() => Promise<void>> {
  return acquirePidLock(`${partPath}.lock`, (pid) => new P2pfxError('TRANSFER_BUSY', `file ${label} is already being written into this folder by p2pfx process ${pid}`));
}

/** The partial-downloads folder goes once no download is pending in it. */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}

/**
 * How many leading chunks of an existing partial file are right: each is read back, sealed
 * again under the file's key and nonce prefix, and compared with the manifest's id (the whole-
 * file hash takes them in on the way). What follows them is cut off; nothing unchecked is
 * kept. -1 (and an empty file) when a chunk among them is wrong.
 */
async function verifiedPrefix(node: LocalNode, writer: FileWriter, fh: FileHandle, m: Manifest, place: (index: number) => { key: Buffer; fileId: Buffer; index: number; last: boolean }, blobs: BufferRing): Promise<number> {
  const prefixHex = node.db.partialNoncePrefix(m.fileId);
  const { size } = await fh.stat();
  const whole = prefixHex ? Math.min(Math.floor(size / m.chunkSize), m.chunkCount - 1) : 0;
  let good = 0;
  for (; good < whole; good++) {
    const { id, blob } = await writer.reseal({ ...place(good), noncePrefix: Buffer.from(prefixHex!, 'hex'), fd: fh.fd, position: good * m.chunkSize, length: m.chunkSize, name: m.fileId }, blobs.take());
    blobs.give(blob);
    if (id !== m.chunks[good]!.id) break;
  }
  if (good < whole) {
    await fh.truncate(0);
    return -1;
  }
  await fh.truncate(good * m.chunkSize);
  return good;
}

/**
 * Where a file was received, if it is still there exactly as written (same size and mtime as
 * recorded then): a copy this node may call its own, or replace with a newer version. A file
 * edited, moved or removed since is not (null); neither is one recorded before sizes were kept.
 */
export async function unchangedCopy(node: LocalNode, fileId: string): Promise<string | null> {
  const r = node.db.received(fileId);
  if (r === null || r.size === null || r.mtimeMs === null) return null;
  const now = await stat(r.path).catch(() => null);
  return now !== null && now.isFile() && now.size === r.size && now.mtimeMs === r.mtimeMs ? r.path : null;
}

/** Puts the finished .part in place of an earlier version (one rename: never a half file under the name). */
async function replaceWith(partPath: string, target: string): Promise<string> {
  await rename(partPath, target);
  return target;
}

/** Moves the finished .part to NAME, or NAME (1), NAME (2)… — never over an existing file. */
async function publish(partPath: string, dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name;
  for (let n = 0; n <= MAX_NAME_SUFFIX; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem} (${n})${ext === name ? '' : ext}`);
    try {
      await link(partPath, candidate);
      await rm(partPath, { force: true });
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new P2pfxError('INVALID_ARGUMENT', `too many files named ${name} in ${dir}`);
}

