// Content-addressed chunk store: chunks/ab/abcdef… named by the SHA-256 of their bytes.
// A chunk is written to chunks/.tmp/ while hashed, and renamed into place only when its
// hash is its id, so a file under a final name is always whole and correct.
// Long on purpose: every path under chunks/ is made, checked and committed here and nowhere else.
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { chunkId } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { assertChunkId } from '../core/ids.js';
import { MAX_BLOB_BYTES, MAX_PAGE } from '../core/limits.js';
import { isNoSpace, noSpaceError } from './fs-atomic.js';
import type { ChunkBacking } from './file-chunks.js';
import { IncomingChunk, WRITE_BATCH_BYTES, writevAll, type PutResult } from './incoming-chunk.js';
import { StoreQuota } from './store-quota.js';

export type { IncomingChunk, PutResult };

/** Ids checked between two turns of the event loop in `missing`. */
const MISSING_SLICE = 512;

/** Temporary files older than this are leftovers of a killed process. */
const STALE_TMP_MS = 10 * 60 * 1000;
/** Bytes read at a time when a chunk is re-hashed by verify(). */
const VERIFY_READ_BYTES = 256 * 1024;
/** Where verify() moves chunks whose bytes are not their id: kept for the user, never deleted. */
export const QUARANTINE_DIR = '.quarantine';


export interface BadChunk { id: string; reason: string }
export interface VerifyResult {
  /** Chunks re-hashed. */
  checked: number;
  /** Those whose bytes are not their id, each now in `quarantined`. */
  bad: BadChunk[];
  /** The folder the bad chunks were moved to (chunks/.quarantine). */
  quarantined: string;
}

export class ChunkStore {
  readonly dir: string;
  private readonly tmpDir: string;
  /** Shard folders known to exist, so a chunk's commit is a stat and a rename. */
  private readonly shardsMade = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
    this.tmpDir = join(dir, '.tmp');
  }

  async init(): Promise<this> {
    await mkdir(this.tmpDir, { recursive: true });
    await this.removeStaleTemporaries();
    return this;
  }

  pathOf(id: string): string {
    assertChunkId(id);
    return join(this.dir, id.slice(0, 2), id);
  }

  /**
   * What stands for the chunks this store no longer keeps sealed (received files: store/file-chunks.ts).
   * Reads, sizes and `missing` fall back to it; listings, usage, prune and verify see sealed chunks only.
   */
  backWith(backing: ChunkBacking): void {
    this.backing = backing;
  }

  private backing: ChunkBacking | null = null;

  /** Size in bytes, or null when the chunk is not held. */
  async size(id: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(id))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.backing?.size(id) ?? null;
      throw err;
    }
  }

  async has(id: string): Promise<boolean> {
    return (await this.size(id)) !== null;
  }

  /**
   * The ids of `ids` this store lacks, in the order given. One stat per id, synchronous and
   * without an exception for an absent file (a few microseconds each), yielding to the event loop
   * between slices: thousands of concurrent promise stats, each rejected with an Error and its
   * stack, cost tens of MiB of heap for a 4 GiB file's ids and far more time.
   */
  async missing(ids: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let at = 0; at < ids.length; at += MISSING_SLICE) {
      if (at > 0) await yieldToLoop();
      for (const id of ids.slice(at, at + MISSING_SLICE)) {
        if (statSync(this.pathOf(id), { throwIfNoEntry: false }) === undefined && (this.backing?.size(id) ?? null) === null) out.push(id);
      }
    }
    return out;
  }

  /**
   * Streams a chunk in, hashing as it goes. Throws HASH_MISMATCH if the bytes are not `id`,
   * CHUNK_TOO_LARGE past `maxBytes`, INSUFFICIENT_STORAGE on a full disk; in every case the
   * temporary file is removed and nothing appears under the final name.
   */
  async putStream(id: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, maxBytes = MAX_BLOB_BYTES, declared?: number): Promise<PutResult> {
    assertChunkId(id);
    const room = await this.quota?.admit(id, declared ?? maxBytes);
    let kept = 0;
    try {
      const r = await this.writeStream(id, source, maxBytes);
      kept = r.created ? r.size : 0;
      return r;
    } finally {
      room?.settle(kept);
    }
  }

  private async writeStream(id: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, maxBytes: number): Promise<PutResult> {
    const tmp = join(this.tmpDir, `${id}.${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(tmp, 'wx');
    try {
      // Pieces off a socket are small (16–64 KiB): gather them and write a batch at a time.
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      try {
        for await (const piece of source) {
          size += piece.length;
          if (size > maxBytes) throw new P2pfxError('CHUNK_TOO_LARGE', `chunk ${id} is larger than ${maxBytes} bytes`);
          hash.update(piece);
          batch.push(piece);
          batchBytes += piece.length;
          if (batchBytes >= WRITE_BATCH_BYTES) {
            await writevAll(fh, batch);
            batch = [];
            batchBytes = 0;
          }
        }
        if (batch.length > 0) await writevAll(fh, batch);
      } finally {
        await fh.close();
      }
      const actual = hash.digest('hex');
      if (actual !== id) throw new P2pfxError('HASH_MISMATCH', `chunk ${id}: received bytes hash to ${actual}`);
      return { created: await this.commit(tmp, id), size };
    } catch (err) {
      await rm(tmp, { force: true });
      if (isNoSpace(err)) throw noSpaceError(`chunk ${id}`, err);
      throw err;
    }
  }

  /**
   * A chunk that arrives piece by piece from a frame stream (the bulk upload), pushed to the
   * returned IncomingChunk: hashed as it comes, written to a temporary file a batch at a time,
   * renamed into place by finish() only if whole and its hash is its id.
   */
  incoming(id: string, length: number): IncomingChunk {
    assertChunkId(id);
    return new IncomingChunk(this, id, length, this.quota?.admit(id, length));
  }

  /** Keeps at most `limitBytes` of chunks from now on (`serve --max-store`): a chunk past it is refused before it is written. */
  async limitTo(limitBytes: number): Promise<void> {
    this.quota = new StoreQuota(limitBytes, async () => (await this.usage()).bytes);
    await this.quota.recount();
  }

  private quota: StoreQuota | null = null;

  /**
   * A temporary file in the store's own folder, for IncomingChunk: unique to this process (its
   * random tag, drawn once) and to this chunk (a counter), and of the `ID.12HEX` form a start-up
   * cleans when stale.
   */
  tempPath(id: string): string {
    this.tempCount = (this.tempCount + 1) % 0x1_0000_0000;
    return join(this.tmpDir, `${id}.${this.tempTag}${this.tempCount.toString(16).padStart(8, '0')}`);
  }

  private readonly tempTag = randomBytes(2).toString('hex');
  private tempCount = 0;

  /** Stores a blob already in memory; its id is recomputed, never trusted. */
  async putBlob(id: string, blob: Uint8Array): Promise<PutResult> {
    const actual = chunkId(blob);
    if (actual !== id) throw new P2pfxError('HASH_MISMATCH', `chunk ${id}: bytes hash to ${actual}`);
    if (await this.has(id)) return { created: false, size: blob.length };
    const room = await this.quota?.admit(id, blob.length);
    const tmp = join(this.tmpDir, `${id}.${randomBytes(6).toString('hex')}`);
    let kept = 0;
    try {
      await writeFile(tmp, blob, { flag: 'wx' });
      const created = await this.commit(tmp, id);
      kept = created ? blob.length : 0;
      return { created, size: blob.length };
    } catch (err) {
      await rm(tmp, { force: true });
      if (isNoSpace(err)) throw noSpaceError(`chunk ${id}`, err);
      throw err;
    } finally {
      room?.settle(kept);
    }
  }

  /** Moves a verified temporary file to its final name; false (and tmp removed) if already held. */
  async commit(tmp: string, id: string): Promise<boolean> {
    if (await this.has(id)) {
      await rm(tmp, { force: true });
      return false;
    }
    const shard = id.slice(0, 2);
    if (!this.shardsMade.has(shard)) {
      await mkdir(join(this.dir, shard), { recursive: true });
      this.shardsMade.add(shard);
    }
    try {
      await rename(tmp, this.pathOf(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The shard folder was removed behind our back (emptied store): make it again.
      await mkdir(join(this.dir, shard), { recursive: true });
      await rename(tmp, this.pathOf(id));
    }
    return true;
  }

  /** The whole blob, or CHUNK_NOT_FOUND. Callers that pass it on re-check its id. */
  async read(id: string): Promise<Buffer> {
    return this.readInto(id, (size) => Buffer.allocUnsafeSlow(size));
  }

  /**
   * The whole blob, read in one call into a buffer from `alloc` (which may hand out a reused,
   * larger one): returns the view of the blob's bytes. CHUNK_NOT_FOUND if absent.
   */
  async readInto(id: string, alloc: (size: number) => Buffer): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.pathOf(id), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const made = await this.backing?.readInto(id, alloc);
      if (made == null) throw notFound(id);
      return made;
    }
    try {
      const { size } = await fh.stat();
      const buf = alloc(size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await fh.read(buf, got, size - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async remove(id: string): Promise<boolean> {
    try {
      const size = this.quota ? await this.size(id) : null;
      await rm(this.pathOf(id));
      if (size !== null) this.quota?.removed(size);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** A page of held chunks in id order, starting after `after`. */
  async list(after = '', limit = 1000): Promise<Array<{ id: string; size: number }>> {
    const max = Math.min(Math.max(1, limit), MAX_PAGE);
    const out: Array<{ id: string; size: number }> = [];
    for (const shard of await this.shards()) {
      if (after && shard < after.slice(0, 2)) continue;
      const names = (await readdir(join(this.dir, shard))).filter((n) => /^[0-9a-f]{64}$/.test(n) && n > after).sort();
      for (const id of names) {
        const size = await this.size(id);
        if (size === null) continue;
        out.push({ id, size });
        if (out.length >= max) return out;
      }
    }
    return out;
  }

  /** Number of chunks and bytes held (walks the shards). */
  async usage(): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    let after = '';
    for (;;) {
      const page = await this.list(after, MAX_PAGE);
      for (const c of page) { count += 1; bytes += c.size; }
      if (page.length < MAX_PAGE) return { count, bytes };
      after = page[page.length - 1]!.id;
    }
  }

  /**
   * Re-hashes every chunk held, one file at a time through a fixed buffer (memory stays bounded
   * whatever the store's size). A chunk whose bytes do not hash to its id is moved to
   * chunks/.quarantine/ (never deleted, never overwriting an earlier one there): it is then
   * missing, so the next send of its file brings it again. `onBad` hears of each as it is found.
   */
  async verify(onBad?: (bad: BadChunk) => void): Promise<VerifyResult> {
    const quarantined = join(this.dir, QUARANTINE_DIR);
    const buf = Buffer.allocUnsafe(VERIFY_READ_BYTES);
    const bad: BadChunk[] = [];
    let checked = 0;
    for (const shard of await this.shards()) {
      const names = (await readdir(join(this.dir, shard))).filter((n) => /^[0-9a-f]{64}$/.test(n) && n.startsWith(shard)).sort();
      for (const id of names) {
        const reason = await this.recheck(id, buf);
        if (reason === undefined) continue; // gone meanwhile (removed by another process)
        checked++;
        if (reason === null) continue;
        await mkdir(quarantined, { recursive: true });
        await this.quarantine(id, quarantined);
        const found = { id, reason };
        bad.push(found);
        onBad?.(found);
      }
    }
    return { checked, bad, quarantined };
  }

  /** null when the chunk's bytes hash to its id, else why not; undefined when it is not there. */
  private async recheck(id: string, buf: Buffer): Promise<string | null | undefined> {
    let fh;
    try {
      fh = await open(this.pathOf(id), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      return `unreadable (${code ?? String(err)})`;
    }
    try {
      const info = await fh.stat();
      if (!info.isFile()) return 'not a regular file';
      if (info.size > MAX_BLOB_BYTES) return `${info.size} bytes, over the ${MAX_BLOB_BYTES}-byte cap of a chunk`;
      const hash = createHash('sha256');
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
      }
      const actual = hash.digest('hex');
      return actual === id ? null : `bytes hash to ${actual} (${info.size} bytes)`;
    } catch (err) {
      return `unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    } finally {
      await fh.close();
    }
  }

  /** Moves a bad chunk into the quarantine folder under its id (id.1, id.2… if that is taken). */
  private async quarantine(id: string, folder: string): Promise<void> {
    for (let n = 0; ; n++) {
      try {
        // link() never replaces a file already there; then the chunk's final name goes.
        await link(this.pathOf(id), join(folder, n === 0 ? id : `${id}.${n}`));
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPERM') { // a folder under a chunk's name cannot be linked: moved as it is
          await rename(this.pathOf(id), join(folder, `${id}.${randomBytes(6).toString('hex')}`));
          return;
        }
        if (code !== 'EEXIST') throw err;
      }
    }
    await rm(this.pathOf(id), { force: true });
  }

  private async shards(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    return entries.filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name)).map((e) => e.name).sort();
  }

  private async removeStaleTemporaries(): Promise<void> {
    await this.removeTemporaries(STALE_TMP_MS);
  }

  /** Removes temporary files older than `olderThanMs` (a write in progress touches its file): how many, how many bytes. */
  async removeTemporaries(olderThanMs: number): Promise<{ count: number; bytes: number }> {
    const now = Date.now();
    let count = 0;
    let bytes = 0;
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(() => null);
      if (info?.isFile() && now - info.mtimeMs > olderThanMs) {
        await rm(path, { force: true });
        count++;
        bytes += info.size;
      }
    }
    return { count, bytes };
  }

  /** When a chunk was last written (its file's mtime), or null when it is not held. */
  async writtenAt(id: string): Promise<number | null> {
    return (await stat(this.pathOf(id)).catch(() => null))?.mtimeMs ?? null;
  }
}

function notFound(id: string): P2pfxError {
  return new P2pfxError('CHUNK_NOT_FOUND', `chunk ${id} is not held here`);
}
