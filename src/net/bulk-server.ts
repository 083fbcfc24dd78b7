// Bulk streams, the serving side (DESIGN "Bulk streams"): `GET /v1/chunks/stream?mode=…` with
// `Upgrade: p2pfx-frames/1` turns a mutual-TLS connection into a stream of frames (core/frames.ts),
// with no HTTP body parsing on the way:
// - mode=upload: the peer sends chunk frames; each is hashed as it streams, written a batch at a
//   time and committed to the store on its own; an empty frame with its id goes back once it has
//   landed. A refusal (HASH_MISMATCH, CHUNK_TOO_LARGE, INSUFFICIENT_STORAGE…) is an error frame,
//   then the stream ends: the chunks acknowledged before it stay.
// - mode=fetch: the peer sends empty frames naming chunks; each is answered in order with the
//   chunk, or an absent frame.
// The peer's end frame says it is done: once everything before it is answered, the node sends
// its own and closes. A peer that goes away without one leaves nothing half-stored.
// The same checks as every route guard the upgrade (Host, a revoked certificate), and an idle
// stream is cut after the request timeout.
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { BufferRing } from '../core/buffer-ring.js';
import { P2pfxError, toP2pfxError } from '../core/errors.js';
import { BULK_MODES, BULK_STREAM_PATH, END_FRAME, FRAMES_PROTOCOL, FrameParser, errorFrame, frameHeader, type BulkMode, type FrameKind } from '../core/frames.js';
import { BLOB_OVERHEAD_BYTES, DEFAULT_CHUNK_BYTES, MAX_BLOB_BYTES, MAX_PENDING_FETCHES } from '../core/limits.js';
import type { ChunkStore, IncomingChunk } from '../store/chunk-store.js';


export interface BulkServerOptions {
  store: ChunkStore;
  /** A stream silent for this long is cut (the node's request timeout). */
  idleTimeoutMs: number;
  /** Refuses a connection whose certificate was revoked since it was made (P2pfxError), or null. */
  checkPeer: (socket: TLSSocket) => P2pfxError | null;
  /** Headers every answer carries (the CRL number). */
  headers: () => Record<string, string>;
  /** After each chunk committed (memory upkeep). */
  afterChunk: () => void;
  /** Where to log a stream cut by a fault of ours. */
  onInternal: (err: unknown) => void;
}

/** Streams open now: cut when the node closes (they are no longer the HTTP server's). */
export class BulkStreams {
  private readonly open = new Set<Duplex>();

  constructor(private readonly opts: BulkServerOptions) {}

  /** The server's 'upgrade' listener. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const refusal = this.refusal(req, socket as TLSSocket);
    if (refusal !== null) {
      answerHttp(socket, refusal, this.opts.headers());
      return;
    }
    const mode = new URL(req.url ?? '/', 'https://node').searchParams.get('mode') as BulkMode;
    const extra = Object.entries(this.opts.headers()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${FRAMES_PROTOCOL}\r\n${extra}\r\n`);
    (socket as TLSSocket).setNoDelay?.(true);
    (socket as TLSSocket).setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    if (mode === 'upload') new UploadStream(socket, this.opts).start(head);
    else new FetchStream(socket, this.opts).start(head);
  }

  closeAll(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  private refusal(req: IncomingMessage, socket: TLSSocket): P2pfxError | null {
    const url = new URL(req.url ?? '/', 'https://node');
    if (req.httpVersion === '1.1' && req.headers.host === undefined) return new P2pfxError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
    if (url.pathname !== BULK_STREAM_PATH) return new P2pfxError('NOT_FOUND', `no stream at ${url.pathname.slice(0, 200)} (bulk streams: ${BULK_STREAM_PATH})`);
    if (req.method !== 'GET') return new P2pfxError('NOT_FOUND', `no route ${req.method ?? '?'} ${BULK_STREAM_PATH} (a bulk stream is a GET with Upgrade: ${FRAMES_PROTOCOL})`);
    if (String(req.headers.upgrade ?? '').toLowerCase() !== FRAMES_PROTOCOL) return new P2pfxError('BAD_REQUEST', `a bulk stream upgrades to ${FRAMES_PROTOCOL}`);
    const mode = url.searchParams.get('mode');
    if (!(BULK_MODES as readonly string[]).includes(mode ?? '')) return new P2pfxError('BAD_REQUEST', `querystring/mode must be one of ${BULK_MODES.join(', ')}`);
    return this.opts.checkPeer(socket);
  }
}

/** An HTTP answer in the API's error shape, on a connection that will not be upgraded. */
function answerHttp(socket: Duplex, err: P2pfxError, headers: Record<string, string>): void {
  const body = JSON.stringify(err.toJSON());
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n${extra}\r\n${body}`);
}

/** What both modes share: a parser fed from the socket, and the one way to end with an error. */
abstract class Stream {
  protected ended = false;
  protected parser!: FrameParser;

  constructor(protected readonly socket: Duplex, protected readonly opts: BulkServerOptions) {}

  start(head: Buffer, kinds: readonly FrameKind[], what: string): void {
    this.parser = new FrameParser({ maxBlobBytes: MAX_BLOB_BYTES, kinds }, this.sink(), what);
    this.socket.on('data', (piece: Buffer) => this.feed(piece));
    // The peer closed without its end frame: gone, not done.
    this.socket.once('end', () => this.socket.destroy());
    this.socket.once('close', () => this.onClose());
    if (head.length > 0) this.feed(head);
  }

  protected abstract sink(): ConstructorParameters<typeof FrameParser>[1];
  /** The peer's end frame arrived. */
  protected abstract onEnd(): void;

  /** Everything is answered: our end frame, and the connection closes. */
  protected finishStream(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end(END_FRAME);
  }
  protected onClose(): void {
    this.ended = true;
  }

  protected feed(piece: Buffer): void {
    if (this.ended) return;
    try {
      this.parser.push(piece);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Ends the stream with an error frame (ours or a refusal), after what was already written. */
  protected fail(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const e = err instanceof P2pfxError ? err : new P2pfxError('INTERNAL', 'internal error', { cause: err });
    if (e.code === 'INTERNAL') this.opts.onInternal(err);
    this.socket.pause();
    this.socket.end(errorFrame(e.code, e.message));
  }
}

type Step = () => Promise<void> | null;

/** mode=upload. Disk work is done in order; while it runs, the socket is paused and what the parser hands on waits. */
class UploadStream extends Stream {
  private current: IncomingChunk | null = null;
  /** Steps waiting for the disk work under way; null when none is. */
  private waiting: Step[] | null = null;
  private peerDone = false;

  override start(head: Buffer): void {
    super.start(head, ['chunk', 'end'], 'the upload');
  }

  protected sink(): ConstructorParameters<typeof FrameParser>[1] {
    return {
      head: ({ kind, id, length }) => {
        if (kind === 'end') {
          this.onEnd();
          return;
        }
        this.run(() => {
          this.current = this.opts.store.incoming(id, length);
          return null;
        });
      },
      body: (piece) => this.run(() => this.current!.push(piece)),
      done: () => this.run(() => {
        const chunk = this.current;
        if (chunk === null) return null; // the end frame's
        return chunk.finish().then(() => {
          if (this.current === chunk) this.current = null;
          // Landed: said at once, so the sender may reuse that chunk's buffer.
          if (!this.ended) this.socket.write(frameHeader(chunk.id, 0));
          this.opts.afterChunk();
        });
      }),
    };
  }

  protected onEnd(): void {
    this.peerDone = true;
    // Every ack is written before the end, after the disk work still under way.
    this.run(() => {
      this.finishStream();
      return null;
    });
  }

  protected override onClose(): void {
    super.onClose();
    void this.current?.abort();
  }

  protected override fail(err: unknown): void {
    void this.current?.abort();
    super.fail(err);
  }

  /** Runs a step now, or after the disk work under way; a step that starts disk work pauses the socket. */
  private run(step: Step): void {
    if (this.waiting !== null) {
      this.waiting.push(step);
      return;
    }
    const busy = step();
    if (busy === null) return;
    this.waiting = [];
    this.socket.pause();
    void this.drain(busy);
  }

  private async drain(busy: Promise<void>): Promise<void> {
    try {
      await busy;
      while (this.waiting !== null && this.waiting.length > 0 && !this.ended) {
        const next = this.waiting.shift()!();
        if (next !== null) await next;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    this.waiting = null;
    if (!this.ended && !this.peerDone) this.socket.resume();
  }
}

/** Read buffers a fetch stream serves from: the chunk being written and the next. */
const FETCH_BUFFERS = 2;

/** mode=fetch. Asks are queued as they come and served in order, one chunk in the socket at a time. */
class FetchStream extends Stream {
  private readonly asked: string[] = [];
  private serving = false;
  private peerDone = false;
  private readonly buffers = new BufferRing(DEFAULT_CHUNK_BYTES + BLOB_OVERHEAD_BYTES, FETCH_BUFFERS);

  override start(head: Buffer): void {
    super.start(head, ['empty', 'end'], 'the fetch stream');
  }

  protected sink(): ConstructorParameters<typeof FrameParser>[1] {
    return {
      head: ({ kind, id }) => {
        if (kind === 'end') {
          this.onEnd();
          return;
        }
        this.asked.push(id);
        // A fetcher far ahead of what is served waits: its asks are read no faster than answered.
        if (this.asked.length >= MAX_PENDING_FETCHES) this.socket.pause();
        if (!this.serving) void this.serve();
      },
      body: () => undefined,
      done: () => undefined,
    };
  }

  protected onEnd(): void {
    this.peerDone = true;
    if (!this.serving) void this.serve();
  }

  private async serve(): Promise<void> {
    this.serving = true;
    try {
      while (this.asked.length > 0 && !this.ended) {
        const id = this.asked.shift()!;
        if (this.asked.length < MAX_PENDING_FETCHES / 2 && !this.peerDone) this.socket.resume();
        const buf = this.buffers.take();
        let blob: Buffer | null;
        try {
          blob = await this.opts.store.readInto(id, (size) => (size <= buf.length ? buf : Buffer.allocUnsafeSlow(size)));
        } catch (err) {
          if (!(err instanceof P2pfxError && err.code === 'CHUNK_NOT_FOUND')) throw err;
          blob = null;
        }
        if (this.ended) return;
        this.socket.write(frameHeader(id, blob === null ? null : blob.length));
        // The buffer goes back only once the socket has taken its bytes.
        if (blob !== null) await new Promise<void>((resolve, reject) => this.socket.write(blob, (err) => (err ? reject(err) : resolve())));
        this.buffers.give(buf);
      }
      if (this.peerDone) this.finishStream();
    } catch (err) {
      this.fail(toP2pfxError(err));
    } finally {
      this.serving = false;
    }
  }
}
