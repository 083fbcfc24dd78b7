// A received file stands for its chunks (DESIGN "Disk: what a node holds"): disk used once.
// Sealing is deterministic given the data key, the file's nonce prefix and the chunk's place, so
// once a file sent to this node is reassembled, its sealed chunks leave the store and each is made
// again from the file when a peer asks for it: read at index × chunk size, sealed under the key
// (opened with this node's own X25519 key), and served only when its SHA-256 is still its id.
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { BLOB_FORMAT_V1, chunkId, NONCE_PREFIX_BYTES, sealChunkInto } from '../core/chunk.js';
import { unwrapForNode, type X25519Envelope } from '../core/envelope.js';
import { P2pfxError } from '../core/errors.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import { PACKED_MANIFEST_VERSION, plaintextBytes, type Manifest } from '../core/manifest.js';
import type { Credentials } from './credentials.js';
import type { BackedChunk, FileChunkTable } from './file-chunk-table.js';
import type { IndexDb } from './index-db.js';

/** What the chunk store falls back to for a chunk it does not keep sealed. */
export interface ChunkBacking {
  /** The blob's size, when a file still as it was written stands for it; else null. */
  size(id: string): number | null;
  /** The blob, made again, when a file stands for it and still gives it; else null. */
  readInto(id: string, alloc: (size: number) => Buffer): Promise<Buffer | null>;
}

/** Reads a chunk's plaintext from `fd` and seals it elsewhere (a worker thread): what readInto uses when given one. */
export type ChunkSealer = (args: {
  key: Buffer; noncePrefix: Buffer; fileId: Buffer; index: number; last: boolean; fd: number; position: number; length: number; name: string;
}, out: Buffer) => Promise<{ id: string; blob: Buffer }>;

/** The sealed chunks of a store, as the adoption below needs them. */
export interface SealedChunks {
  pathOf(id: string): string;
  remove(id: string): Promise<boolean>;
}

/** Data keys kept open while serving (one per file; a 32-byte key each). */
const KEYS_KEPT = 64;

export class FileChunks implements ChunkBacking {
  private readonly keys = new Map<string, Buffer>();
  private sealer: ChunkSealer | null = null;
  private readonly table: FileChunkTable;

  constructor(private readonly db: IndexDb, private readonly creds: Credentials) {
    this.table = db.fileChunks;
  }

  size(id: string): number | null {
    const c = this.table.lookup(id);
    return c !== null && asWritten(c) ? c.size : null;
  }

  /** Seal on worker threads from now on (null: on this thread again). */
  sealWith(sealer: ChunkSealer | null): void {
    this.sealer = sealer;
  }

  async readInto(id: string, alloc: (size: number) => Buffer): Promise<Buffer | null> {
    const c = this.table.lookup(id);
    if (c === null) return null;
    const key = this.keyOf(c.fileId);
    if (key === null) return this.lost(c);
    const place = { fileId: Buffer.from(c.fileId, 'hex'), index: c.index, last: c.index === c.chunkCount - 1 };
    if (this.sealer !== null) {
      const fh = await open(c.path, 'r').catch(() => null);
      if (fh === null) return this.lost(c);
      try {
        const made = await this.sealer({ key, noncePrefix: Buffer.from(c.noncePrefix, 'hex'), ...place, fd: fh.fd, position: c.index * c.chunkSize, length: c.size - BLOB_OVERHEAD_BYTES, name: c.path }, alloc(c.size));
        // An edit that kept the size (and even the mtime) shows here: the bytes no longer make the chunk.
        return made.id === id ? made.blob : this.lost(c);
      } catch (err) {
        // A file cut short since (the worker's read ends early) no longer gives its chunks.
        if (err instanceof P2pfxError) return this.lost(c);
        throw err;
      } finally {
        await fh.close();
      }
    }
    const plain = await readPlain(c);
    if (plain === null) return this.lost(c);
    const blob = sealChunkInto(alloc(c.size), key, Buffer.from(c.noncePrefix, 'hex'), place, plain);
    // An edit that kept the size (and even the mtime) shows here: the bytes no longer make the chunk.
    return chunkId(blob) === id ? blob : this.lost(c);
  }

  /**
   * After a file sent to this node was reassembled and recorded as received: its chunks leave the
   * store, and the file stands for them. Only a single file (not a packed folder, whose chunks span
   * files) whose every chunk is here, of the size the manifest says, sealed under one nonce prefix
   * at its own index: anything else stays sealed as it is. Returns how many chunks the file now
   * stands for (0: nothing changed).
   */
  async adopt(m: Manifest, store: SealedChunks): Promise<number> {
    const received = this.db.received(m.fileId);
    if (m.version === PACKED_MANIFEST_VERSION || received === null || received.size !== plaintextBytes(m) || received.mtimeMs === null) return 0;
    if (this.keyOf(m.fileId) === null) return 0;
    let prefix: string | null = null;
    for (const [index, c] of m.chunks.entries()) {
      const plainLength = Math.min(m.chunkSize, received.size - index * m.chunkSize);
      const head = c.index === index && c.size === plainLength + BLOB_OVERHEAD_BYTES ? await blobHead(store.pathOf(c.id), c.size) : null;
      if (head === null || head.index !== index || (prefix !== null && head.prefix !== prefix)) return 0;
      prefix = head.prefix;
    }
    if (prefix === null) return 0;
    this.table.back({ fileId: m.fileId, noncePrefix: prefix, chunkSize: m.chunkSize, chunkCount: m.chunkCount }, m.chunks.map((c) => ({ id: c.id, index: c.index, size: c.size })));
    for (const c of m.chunks) await store.remove(c.id);
    return m.chunkCount;
  }

  /** The file no longer gives its chunks (edited, moved, removed): it stands for none of them. */
  private lost(c: BackedChunk): null {
    this.table.drop(c.fileId);
    this.keys.delete(c.fileId);
    return null;
  }

  /** The file's data key, from its manifest's envelope for this node; null when there is none. */
  private keyOf(fileId: string): Buffer | null {
    const kept = this.keys.get(fileId);
    if (kept !== undefined) return kept;
    const m = this.db.getManifest(fileId);
    const env = m?.envelopes.find((e): e is X25519Envelope => e.type === 'x25519' && e.recipient === this.creds.nodeId);
    const key = env === undefined ? null : unwrapForNode(env, Buffer.from(fileId, 'hex'), this.creds.x25519);
    if (key === null) return null;
    if (this.keys.size >= KEYS_KEPT) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(fileId, key);
    return key;
  }
}

/** Whether the file is still the size and age it was written with (a cheap check, for `missing` and HEAD). */
function asWritten(c: BackedChunk): boolean {
  const st = statSync(c.path, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.size === c.fileSize && st.mtimeMs === c.fileMtimeMs;
}

/** The chunk's plaintext, read from the file at its place; null when the file no longer has it. */
async function readPlain(c: BackedChunk): Promise<Buffer | null> {
  const length = c.size - BLOB_OVERHEAD_BYTES;
  const plain = Buffer.allocUnsafe(length);
  const fh = await open(c.path, 'r').catch(() => null);
  if (fh === null) return null;
  try {
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(plain, got, length - got, c.index * c.chunkSize + got);
      if (bytesRead === 0) return null;
      got += bytesRead;
    }
    return plain;
  } finally {
    await fh.close();
  }
}

/** A sealed blob's nonce prefix and index, read from its first bytes; null when it is not a whole v1 blob. */
async function blobHead(path: string, size: number): Promise<{ prefix: string; index: number } | null> {
  const fh = await open(path, 'r').catch(() => null);
  if (fh === null) return null;
  try {
    const head = Buffer.alloc(1 + NONCE_PREFIX_BYTES + 4);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead !== head.length || head[0] !== BLOB_FORMAT_V1 || (await fh.stat()).size !== size) return null;
    return { prefix: head.subarray(1, 1 + NONCE_PREFIX_BYTES).toString('hex'), index: head.readUInt32BE(1 + NONCE_PREFIX_BYTES) };
  } finally {
    await fh.close();
  }
}
