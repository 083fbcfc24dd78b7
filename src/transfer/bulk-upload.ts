// Uploads a file's chunks to one peer over a bulk stream (net/bulk-client.ts): each chunk written
// as soon as it is sealed, in file order, at most `window` of them sent or sealing and not yet
// landed. The peer says each one landed as it commits it; only then is its buffer reused (the
// socket may hold a reference until its bytes have gone out).
import type { P2pfxError } from '../core/errors.js';
import type { UploadChannel } from '../net/bulk-client.js';
import type { PeerClient } from '../net/client.js';

export interface SealedChunk { id: string; blob: Buffer }

export interface BulkUploadOptions {
  /** Chunks sealing, sent or unacknowledged at once. */
  window: number;
  /** Called with each chunk once the peer stored it (its buffer may be reused). */
  onLanded: (chunk: SealedChunk) => void;
  /** Called before a chunk is written to the stream (the sender journals what is about to leave). */
  beforeSend?: (chunk: SealedChunk) => void;
}

export class BulkUploader {
  private channel: Promise<UploadChannel> | null = null;
  /** Chunks queued to be written, in order, and those written but not yet landed. */
  private readonly queued: Array<Promise<SealedChunk>> = [];
  private readonly sent: SealedChunk[] = [];
  private writing: Promise<void> | null = null;
  /** The first failure: a chunk's (sealing, a changed file) before the stream's. */
  private chunkError: unknown = null;
  private streamError: P2pfxError | null = null;
  private readonly roomWaiters = new Set<() => void>();

  constructor(private readonly client: PeerClient, private readonly opts: BulkUploadOptions) {}

  /**
   * Queues a chunk being sealed. Resolves once there is room for another: fewer than `window`
   * chunks queued or unacknowledged. Throws the first failure met.
   */
  async add(chunk: Promise<SealedChunk>): Promise<void> {
    this.throwIfFailed();
    // A chunk that fails is reported through the writer; this keeps it from being called unhandled meanwhile.
    chunk.catch(() => undefined);
    this.queued.push(chunk);
    this.writing ??= this.write();
    while (this.queued.length + this.sent.length >= this.opts.window && this.failure() === null) {
      await new Promise<void>((resolve) => this.roomWaiters.add(resolve));
    }
    this.throwIfFailed();
  }

  /** Waits for every chunk to land and the stream to end cleanly; throws the first failure. */
  async finish(): Promise<void> {
    while (this.writing !== null) await this.writing;
    this.throwIfFailed();
    if (this.channel === null) return;
    try {
      await (await this.channel).end();
    } catch (err) {
      this.streamError ??= err as P2pfxError;
    }
    this.throwIfFailed();
  }

  /** Stops: the stream is cut, nothing more is written. Never throws. */
  async abort(): Promise<void> {
    this.chunkError ??= new Error('upload stopped');
    await this.channel?.then((c) => c.destroy(), () => undefined);
    while (this.writing !== null) await this.writing;
  }

  private async write(): Promise<void> {
    try {
      const channel = await this.open();
      while (this.queued.length > 0 && this.failure() === null) {
        let chunk: SealedChunk;
        try {
          chunk = await this.queued[0]!;
        } catch (err) {
          this.chunkError ??= err;
          channel.destroy();
          break;
        }
        this.queued.shift();
        this.opts.beforeSend?.(chunk);
        this.sent.push(chunk);
        await channel.send(chunk.id, chunk.blob);
      }
    } catch (err) {
      this.streamError ??= err as P2pfxError;
    } finally {
      this.writing = null;
      this.wake();
      // More may have been queued while the last write drained.
      if (this.queued.length > 0 && this.failure() === null) this.writing = this.write();
    }
  }

  private open(): Promise<UploadChannel> {
    this.channel ??= this.client.openUpload().then((channel) => {
      channel.onLanded((id) => {
        const chunk = this.sent.shift();
        if (chunk !== undefined && chunk.id === id) this.opts.onLanded(chunk);
        this.wake();
      });
      channel.onFailed((err) => {
        this.streamError ??= err;
        this.wake();
      });
      return channel;
    });
    return this.channel;
  }

  private wake(): void {
    for (const w of this.roomWaiters) w();
    this.roomWaiters.clear();
  }

  private failure(): unknown {
    return this.chunkError ?? this.streamError;
  }

  private throwIfFailed(): void {
    const err = this.failure();
    if (err !== null) throw err;
  }
}
