// A chunk that arrives over a stream (a bulk upload, net/bulk-server.ts): hashed as it comes,
// gathered and written to a temporary file of the store a batch at a time, and committed under
// its id only once its bytes hash to it (ChunkStore.incoming()).
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { P2pfxError } from '../core/errors.js';
import { isNoSpace, noSpaceError } from './fs-atomic.js';
import type { Room } from './store-quota.js';

/** Bytes gathered before they are written (a chunk of the default size goes down in one writev). */
export const WRITE_BATCH_BYTES = 2 * 1024 * 1024;

export interface PutResult { created: boolean; size: number }

/** What an incoming chunk needs of its store: a temporary file, and the commit under its id. */
export interface ChunkPlaces {
  tempPath(id: string): string;
  commit(tmp: string, id: string): Promise<boolean>;
}

/** A chunk arriving over a stream (ChunkStore.incoming()). */
export class IncomingChunk {
  private readonly hash = createHash('sha256');
  private pieces: Buffer[] = [];
  private gathered = 0;
  private received = 0;
  private tmp: string | null = null;
  private fh: FileHandle | null = null;
  /** The writes of this chunk, in order; the first failure stays in it. */
  private writes: Promise<void> = Promise.resolve();
  /** Bytes taken and not yet on disk. */
  private unwrittenBytes = 0;
  private aborted = false;

  constructor(private readonly store: ChunkPlaces, readonly id: string, readonly length: number, room?: Promise<Room>) {
    // Room in the store's quota comes first: no byte is written before it is granted, and a
    // refusal fails the chunk (finish() throws it) with nothing on disk.
    if (room !== undefined) {
      this.writes = room.then((r) => {
        this.room = r;
      });
      this.writes.catch(() => undefined);
    }
  }

  private room: Room | undefined;

  /** Bytes taken and not yet written: the caller stops reading while there are too many. */
  get unwritten(): number {
    return this.unwrittenBytes;
  }

  /** Resolves once the writes queued so far are done (whatever their outcome). */
  written(): Promise<void> {
    return this.writes.catch(() => undefined);
  }

  /**
   * Takes the next piece (a view the caller must not reuse). Pieces off a socket are small
   * (16–64 KiB): hashed at once, gathered, and written a batch at a time behind the caller's back
   * (a chunk of the default size goes down in one writev at its end). Throws CHUNK_TOO_LARGE past
   * the declared length.
   */
  push(piece: Buffer): void {
    this.received += piece.length;
    if (this.received > this.length) throw new P2pfxError('CHUNK_TOO_LARGE', `chunk ${this.id} is larger than the ${this.length} bytes declared`);
    this.hash.update(piece);
    this.pieces.push(piece);
    this.gathered += piece.length;
    this.unwrittenBytes += piece.length;
    if (this.gathered >= WRITE_BATCH_BYTES && this.received < this.length) this.queueWrite();
  }

  /** The last piece was pushed: commits the chunk, or throws HASH_MISMATCH (nothing kept). */
  async finish(): Promise<PutResult> {
    if (this.received !== this.length) throw new P2pfxError('BAD_REQUEST', `chunk ${this.id} ended after ${this.received} of ${this.length} bytes`);
    const actual = this.hash.digest('hex');
    if (actual !== this.id) {
      await this.abort();
      throw new P2pfxError('HASH_MISMATCH', `chunk ${this.id}: received bytes hash to ${actual}`);
    }
    this.queueWrite();
    try {
      await this.writes;
      await this.fh!.close();
      this.fh = null;
      const created = await this.store.commit(this.tmp!, this.id);
      this.room?.settle(created ? this.length : 0);
      return { created, size: this.length };
    } catch (err) {
      await this.abort();
      if (isNoSpace(err)) throw noSpaceError(`chunk ${this.id}`, err);
      throw err;
    }
  }

  /** Drops what was written (a stream cut or refused mid-chunk). Never throws. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.pieces = [];
    await this.writes.catch(() => undefined);
    this.room?.settle(0);
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
    if (this.tmp !== null) await rm(this.tmp, { force: true }).catch(() => undefined);
  }

  /** Sends what is gathered to disk after the writes before it. */
  private queueWrite(): void {
    const batch = this.pieces;
    const bytes = this.gathered;
    this.pieces = [];
    this.gathered = 0;
    this.writes = this.writes.then(async () => {
      if (this.aborted) return;
      if (this.fh === null) {
        this.tmp = this.store.tempPath(this.id);
        this.fh = await open(this.tmp, 'wx');
      }
      if (batch.length > 0) await writevAll(this.fh, batch);
      this.unwrittenBytes -= bytes;
    });
    // Seen by finish() (or abort()); not left unhandled meanwhile.
    this.writes.catch(() => undefined);
  }
}

/**
 * Writes every byte of `pieces`: writev may write fewer (a disk that is filling up does), and
 * its caller must go on with the rest, or a chunk would be committed short of its bytes.
 */
export async function writevAll(fh: FileHandle, pieces: Uint8Array[]): Promise<void> {
  let rest = pieces.filter((p) => p.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    if (bytesWritten === 0) throw Object.assign(new Error('no byte written'), { code: 'ENOSPC' });
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.length) bytesWritten -= rest[i++]!.length;
    rest = i < rest.length ? [rest[i]!.subarray(bytesWritten), ...rest.slice(i + 1)] : [];
  }
}

