// Send flow (DESIGN "Flows > Send"): read → cut → seal and hash → ask what the peer lacks →
// PUT those with a bounded number in flight → PUT the signed manifest.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { failsEveryPeer, P2pfxError, toP2pfxError } from '../core/errors.js';
import { BLOB_OVERHEAD_BYTES, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_MISSING_IDS, MIN_CHUNK_BYTES } from '../core/limits.js';
import type { ChunkRef, FileMetadata, Manifest } from '../core/manifest.js';
import type { ReadPart } from './crypto-tasks.js';
import type { PeerClient, Recipient } from '../net/client.js';
import type { LocalNode } from '../store/local-node.js';
import { buildManifest } from './build-manifest.js';
import { BufferRing } from '../core/buffer-ring.js';
import { BulkUploader } from './bulk-upload.js';
import { CryptoPool } from './crypto-pool.js';
import { fileKeyFor, newFileKey, type FileKey, type FileStamp } from './file-key.js';
import { prepareWrap } from '../core/envelope.js';
import { resolveSourceFile } from './local-file.js';
import type { ProgressListener } from './progress.js';

/** Chunks in flight to a peer (sealing, on the wire, being stored): --concurrency. */
export const DEFAULT_SEND_CONCURRENCY = 12;

export interface SendOptions {
  node: LocalNode;
  client: PeerClient;
  /** Workers that seal and hash; made for the send and closed after it when not given. */
  pool?: CryptoPool;
  path: string;
  chunkSize?: number;
  password?: string | undefined;
  concurrency?: number;
  onProgress?: ProgressListener;
  /**
   * Whether the peer gets an envelope of its own (default true): it can then open the file and
   * reassembles it on its own. False makes it a storage peer that holds chunks it cannot read.
   */
  peerKey?: boolean;
  /** More nodes the file is for (beyond the peer): each gets an envelope in the manifest. */
  recipients?: readonly Recipient[];
  /** Marks carried in the sealed metadata (e.g. a file that belongs to a folder). */
  metadataExtra?: Partial<Omit<FileMetadata, 'name' | 'size' | 'mtimeMs' | 'sha256'>>;
  /** The name recorded in the metadata (default: the file's base name). */
  name?: string;
  /** Stops the send between chunks (CANCELLED); what was sent stays for a later run. */
  signal?: AbortSignal;
  /**
   * Also take the SHA-256 of the whole file and seal it in the metadata (folder members, whose
   * index records it). Off by default: format v2 authenticates a file without it.
   */
  wholeHash?: boolean;
}

export interface SendResult {
  fileId: string;
  name: string;
  size: number;
  /** The whole file's SHA-256 when it was hashed (wholeHash), else null. */
  sha256: string | null;
  chunkCount: number;
  /** Chunks PUT in this run; the rest the peer already held. */
  sentChunks: number;
  /** True when the file was not read at all (the peer held every chunk of an unchanged file). */
  quick: boolean;
  manifest: Manifest;
  /** The peer the file was addressed to (an envelope for it), or null for storage only. */
  recipient: Recipient | null;
}

export function checkChunkSize(chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) {
    throw new P2pfxError('INVALID_ARGUMENT', `chunk size must be a whole number of bytes between ${MIN_CHUNK_BYTES} and ${MAX_CHUNK_BYTES}, got ${chunkSize}`);
  }
  return chunkSize;
}

export async function sendFile(opts: SendOptions): Promise<SendResult> {
  return only(await sendFileToMany({ ...opts, clients: [opts.client], progressFor: () => opts.onProgress }));
}

/** Sending one file to several peers at once: the same options, with the peers and each one's progress. */
export interface SendManyOptions extends Omit<SendOptions, 'client' | 'onProgress'> {
  clients: readonly PeerClient[];
  progressFor?: (client: PeerClient) => ProgressListener | undefined;
}

/** One peer's outcome of a send to several. */
export type SendOutcome =
  | { client: PeerClient; ok: true; result: SendResult; seconds: number }
  | { client: PeerClient; ok: false; error: P2pfxError };

/**
 * Sends a file to every client at once (DESIGN "Sending to many"): the file is read and sealed
 * once, each chunk goes over every peer's own bulk stream to those that lack it, and one manifest
 * names them all. A peer that fails is dropped with its error while the others go on; a failure of
 * the command or of this machine (core/errors.ts failsEveryPeer) throws at once.
 */
export async function sendFileToMany(opts: SendManyOptions): Promise<SendOutcome[]> {
  const chunkSize = checkChunkSize(opts.chunkSize ?? DEFAULT_CHUNK_BYTES);
  const file = await resolveSourceFile(opts.path);
  // The password's key is derived beside the upload, not after it.
  if (opts.password !== undefined) prepareWrap(opts.password);
  return sendSource(opts, file, chunkSize, null);
}

/** The single peer's result, or its error. */
function only(outcomes: SendOutcome[]): SendResult {
  const o = outcomes[0]!;
  if (!o.ok) throw o.error;
  return o.result;
}

/**
 * A stream of chunks made of several files (a packed folder, core/folder-pack.ts): chunk `i`
 * holds `chunks[i].parts`, read one after the other. Its journal stamp stands for the whole
 * listing, so an unchanged folder resumes and resends under the same key.
 */
export interface PackedSource {
  /** Its key from the journal (transfer/file-key.ts), kept across versions of the folder. */
  key: FileKey;
  /** The journal's stamp the key is kept under (not a real path). */
  stamp: FileStamp;
  size: number;
  /** In stream order; `index` is the chunk's nonce index, unique under the folder's key and kept by an unchanged chunk. */
  chunks: ReadonlyArray<{ index: number; length: number; parts: ReadPart[] }>;
  /** What the sealed metadata says beyond name, size and mtime (kind 'folder', indexBytes). */
  metadata: Partial<FileMetadata>;
}

/** Sends a packed folder's stream: one key, one manifest (version 3). */
export async function sendPacked(opts: SendOptions, source: PackedSource, chunkSize: number): Promise<SendResult> {
  return only(await sendSource({ ...opts, clients: [opts.client], progressFor: () => opts.onProgress }, { path: source.stamp.path, size: source.size, mtimeMs: 0 }, chunkSize, source));
}

async function sendSource(opts: SendManyOptions, file: { path: string; size: number; mtimeMs: number }, chunkSize: number, packed: PackedSource | null): Promise<SendOutcome[]> {
  const stamp = packed?.stamp ?? { path: file.path, chunkSize, size: file.size, mtimeMs: file.mtimeMs };
  // Asked first: it proves each peer is there and who it is before any file is read.
  const asked = await Promise.allSettled(opts.clients.map((c) => (opts.peerKey === false ? Promise.resolve(null) : c.recipient())));
  const targets = opts.clients.map((client, i): Target => {
    const r = asked[i]!;
    return new Target(client, r.status === 'fulfilled' ? r.value : null, opts.progressFor?.(client), r.status === 'rejected' ? toP2pfxError(r.reason) : null);
  });
  if (targets.length === 1 && targets[0]!.error !== null) throw targets[0]!.error;
  const pool = opts.pool ?? new CryptoPool();
  try {
    const run = new SendRun({ ...opts, pool }, targets, file, chunkSize, packed);
    let results = await run.attempt(packed?.key ?? fileKeyFor(opts.node, stamp));
    // Re-sealing gave other bytes than a previous run under the same key: the file changed
    // without its size or mtime showing it. Start over under a new key; nothing was sent twice.
    if (results === 'changed') results = await run.attempt(newFileKey(opts.node, stamp));
    if (results === 'changed') throw new P2pfxError('FILE_CHANGED', `${file.path} changed while being sent`);
    return targets.map((t) => (t.error === null ? { client: t.client, ok: true, result: t.result!, seconds: t.seconds() } : { client: t.client, ok: false, error: t.error }));
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/** One peer of a send: its recipient, stream, progress and outcome. */
class Target {
  lacking = new Set<string>();
  uploads: BulkUploader | null = null;
  sent = 0;
  done = 0;
  result: SendResult | null = null;
  private readonly started = process.hrtime.bigint();
  private ended: bigint | null = null;

  constructor(readonly client: PeerClient, readonly recipient: Recipient | null, readonly onProgress: ProgressListener | undefined, public error: P2pfxError | null) {}

  get live(): boolean {
    return this.error === null;
  }

  /** This peer failed: it gets nothing more (its stream is cut); the others go on. */
  drop(err: unknown): void {
    this.error ??= toP2pfxError(err);
    void this.uploads?.abort();
  }

  finish(result: SendResult): void {
    this.result = result;
    this.ended = process.hrtime.bigint();
  }

  seconds(): number {
    return Number((this.ended ?? process.hrtime.bigint()) - this.started) / 1e9;
  }
}

/** A failure of the file, the command or this machine, not of one peer: every peer's send stops. */
function failsAll(err: unknown): boolean {
  return err instanceof FileChangedSignal || failsEveryPeer(err);
}

class SendRun {
  private readonly name: string;
  private readonly path: string;
  private readonly size: number;
  private readonly count: number;
  /** Chunks sealing, sent and not yet landed at once (per peer, and so in all). */
  private readonly window: number;

  constructor(
    private readonly opts: SendManyOptions & { pool: CryptoPool },
    private readonly targets: Target[],
    private readonly file: { path: string; size: number; mtimeMs: number },
    private readonly chunkSize: number,
    private readonly packed: PackedSource | null,
  ) {
    this.path = file.path;
    this.size = file.size;
    this.name = opts.name ?? basename(file.path);
    this.count = packed ? packed.chunks.length : Math.max(1, Math.ceil(file.size / chunkSize));
    this.window = Math.max(1, opts.concurrency ?? DEFAULT_SEND_CONCURRENCY);
  }

  /** The peers still in the send; NoPeerLeft once every one has failed. */
  private live(): Target[] {
    const live = this.targets.filter((t) => t.live);
    if (live.length === 0) throw new NoPeerLeft();
    return live;
  }

  /** A peer's failure: thrown where it is the only peer or the failure is everyone's, else that peer is dropped. */
  private failed(t: Target, err: unknown): void {
    if (this.targets.length === 1 || failsAll(err)) throw err;
    t.drop(err);
  }

  /** 'changed': the file changed under this key; 'done': each peer has the file or its error. */
  async attempt(key: FileKey): Promise<'changed' | 'done'> {
    if (!this.targets.some((t) => t.live)) return 'done';
    // Of the chunks sealed under this key by an earlier run, those each peer lacks.
    await Promise.all(this.live().map(async (t) => {
      try {
        t.lacking = key.sealed.size > 0 ? await this.askMissing(t.client, key) : new Set();
      } catch (err) {
        this.failed(t, err);
      }
    }));
    if (!this.targets.some((t) => t.live)) return 'done';
    const wholeHash = this.opts.wholeHash === true;
    // The file is not read at all when an earlier run read it whole under this key (and hashed
    // it, where a hash is wanted) and no peer lacks any of its chunks.
    // (A packed folder's chunks keep their nonce index across versions: all must be journalled.)
    const quick = key.complete && (key.sha256 !== null || !wholeHash)
      && (this.packed ? this.packed.chunks.every((c) => key.sealed.has(c.index)) : key.sealed.size === this.count);
    const { pool, node } = this.opts;
    const fh = this.packed ? null : await open(this.path, 'r');
    const sealer = pool.fileSealer({ wholeHash: wholeHash && !quick });
    // Buffers: the chunks sealing, sent and not yet landed on every peer, and one spare.
    const blobs = new BufferRing(this.chunkSize + BLOB_OVERHEAD_BYTES, this.window + 1);
    // A blob goes back to the ring once every peer it was sent to has stored it.
    const landingsDue = new Map<Buffer, number>();
    const chunks: ChunkRef[] = new Array(this.count);
    // Sealed ids are journalled before their chunk leaves, in batches: every chunk sealed so far is
    // recorded in one transaction when the first of them is about to be sent.
    const unjournalled: ChunkRef[] = [];
    const journalled = new Set<string>();
    const journal = () => {
      if (unjournalled.length === 0) return;
      node.db.recordSealed(key.fileId, unjournalled);
      for (const c of unjournalled.splice(0)) journalled.add(c.id);
    };
    for (const t of this.live()) {
      t.sent = 0;
      t.done = 0;
      t.uploads = new BulkUploader(t.client, {
        window: this.window,
        beforeSend: (c) => {
          if (!journalled.has(c.id)) journal();
          journalled.delete(c.id); // only chunks sealed and not yet sent stay in the set
        },
        onLanded: (c) => {
          t.sent++;
          const due = (landingsDue.get(c.blob) ?? 1) - 1;
          if (due > 0) landingsDue.set(c.blob, due);
          else {
            landingsDue.delete(c.blob);
            blobs.give(c.blob);
          }
          this.progress(t, 'sending', ++t.done);
        },
      });
    }
    // Chunks re-sealed only to be compared with the journal (no peer lacks them): awaited apart.
    const checks = new Set<Promise<void>>();
    try {
      for (let pos = 0; pos < this.count; pos++) {
        // A file's chunk index is its position; a packed folder's chunk keeps the index (the
        // nonce) it was first sealed under, so an unchanged chunk stays the same blob.
        const piece = this.packed?.chunks[pos];
        const index = piece ? piece.index : pos;
        const previous = key.sealed.get(index);
        const live = this.live();
        const wanting = live.filter((t) => previous === undefined || t.lacking.has(previous.id));
        const others = live.filter((t) => !wanting.includes(t));
        if (quick && wanting.length === 0) {
          chunks[pos] = { index, ...previous! };
          for (const t of live) this.progress(t, 'sending', ++t.done);
          continue;
        }
        throwIfCancelled(this.opts.signal, this.name);
        const position = piece ? 0 : index * this.chunkSize;
        const length = piece ? piece.length : Math.min(this.chunkSize, this.size - position);
        // Read and sealed in file order by one worker (which hashes the whole plaintext on the
        // way where asked); journalled before the chunk can leave, compared with the journal
        // when it was sealed before under this key.
        const sealed = sealer.readSeal({
          // A packed folder's chunks are all sealed as not-last: the signed list fixes their number.
          key: key.dataKey, noncePrefix: key.noncePrefix, fileId: key.fileIdBytes, index, last: !piece && index === this.count - 1,
          fd: fh?.fd ?? -1, position, length, name: this.name, ...(piece ? { parts: piece.parts } : {}),
        }, blobs.take()).then((r) => {
          if (previous !== undefined && previous.id !== r.id) throw new FileChangedSignal();
          chunks[pos] = { index, id: r.id, size: r.blob.length };
          if (previous === undefined) unjournalled.push(chunks[pos]!);
          else if (wanting.length > 0) journalled.add(r.id);
          if (wanting.length > 0) landingsDue.set(r.blob, wanting.length);
          return r;
        });
        // The peers that hold this chunk already count it done once it is sealed (and checked).
        const counted = sealed.then((r) => {
          for (const t of others) if (t.live) this.progress(t, 'sending', ++t.done);
          if (wanting.length === 0) blobs.give(r.blob);
        });
        if (wanting.length > 0) {
          counted.catch(() => undefined);
          await Promise.all(wanting.map((t) => t.uploads!.add(sealed).catch((err: unknown) => this.failed(t, err))));
          this.live();
          continue;
        }
        const check: Promise<void> = counted.finally(() => checks.delete(check));
        checks.add(check);
        if (checks.size >= this.window) await Promise.race(checks);
      }
      await Promise.all(checks);
      await Promise.all(this.live().map((t) => t.uploads!.finish().catch((err: unknown) => this.failed(t, err))));
      journal();
      const digest = await sealer.digest();
      const sha256 = wholeHash ? (digest ?? key.sha256) : null;
      await this.publish(key, sha256, chunks, quick);
      return 'done';
    } catch (err) {
      await Promise.all(this.targets.map((t) => t.uploads?.abort()));
      if (err instanceof FileChangedSignal) return 'changed';
      if (err instanceof NoPeerLeft) return 'done';
      throw err;
    } finally {
      await Promise.allSettled(checks);
      await fh?.close();
    }
  }

  /** Of the chunks sealed under this key by an earlier run, those `client` lacks. */
  private async askMissing(client: PeerClient, key: FileKey): Promise<Set<string>> {
    const ids = [...key.sealed.values()].map((c) => c.id);
    const missing = new Set<string>();
    for (let i = 0; i < ids.length; i += MAX_MISSING_IDS) {
      for (const id of await client.missing(ids.slice(i, i + MAX_MISSING_IDS))) missing.add(id);
    }
    return missing;
  }

  /** One manifest naming every recipient (the peers and any others), stored here and on each peer. */
  private async publish(key: FileKey, sha256: string | null, chunks: ChunkRef[], quick: boolean): Promise<void> {
    const { node } = this.opts;
    node.db.finishJournal(key.fileId, sha256);
    // Every peer that said who it is gets an envelope, even one whose upload failed: it can
    // still fetch the file from the others.
    const peers = this.targets.flatMap((t) => (t.recipient ? [t.recipient] : []));
    const manifest = await buildManifest(node.creds, {
      key, chunkSize: this.chunkSize, chunks, password: this.opts.password,
      recipients: [...peers, ...(this.opts.recipients ?? []).filter((r) => !peers.some((p) => p.nodeId === r.nodeId))],
      metadata: {
        ...this.opts.metadataExtra, ...this.packed?.metadata, name: this.name, size: this.size,
        mtimeMs: this.packed ? Date.now() : this.file.mtimeMs, ...(sha256 === null ? {} : { sha256 }),
      },
    });
    node.db.putManifest(manifest);
    await Promise.all(this.live().map(async (t) => {
      try {
        await t.client.putManifest(manifest);
      } catch (err) {
        this.failed(t, err);
        return;
      }
      this.progress(t, 'done', this.count);
      t.finish({ fileId: key.fileId, name: this.name, size: this.size, sha256, chunkCount: this.count, sentChunks: t.sent, quick, manifest, recipient: t.recipient });
    }));
    this.live();
  }

  private progress(t: Target, phase: 'sending' | 'done', doneChunks: number): void {
    const doneBytes = Math.min(this.size, doneChunks * this.chunkSize);
    t.onProgress?.({ phase, name: this.name, doneBytes, totalBytes: this.size, doneChunks, totalChunks: this.count });
  }
}

/** Thrown inside a run when re-sealing under a journalled key gives other bytes. */
class FileChangedSignal extends Error {}

/** Thrown inside a run once every peer has failed (each with its own error). */
class NoPeerLeft extends Error {}

/** CANCELLED once `signal` is aborted (checked between chunks). */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new P2pfxError('CANCELLED', `${what}: cancelled`);
}
