// Bulk streams, the serving side (DESIGN "Bulk streams"): `GET /v1/chunks/stream?mode=…` with
// `Upgrade: p2pfx-frames/1` turns a mutual-TLS connection into a stream of frames (protocol/bulk.ts),
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
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { BufferRing } from '../core/buffer-ring.js';
import { P2pfxError, toP2pfxError } from '../core/errors.js';
import { BULK_MODES, BULK_STREAM_PATH, END_FRAME, FRAMES_PROTOCOL, FrameParser, errorFrame, frameHeader, type BulkMode, type FrameKind } from './protocol/bulk.js';
import { BLOB_OVERHEAD_BYTES, DEFAULT_CHUNK_BYTES, MAX_BLOB_BYTES, MAX_PENDING_FETCHES } from '../core/limits.js';
import type { ChunkStore, IncomingChunk } from '../store/chunk-store.js';
import { nodeIdFromCertPem } from '../pki/node-id.js';


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
  /** What arrives by upload streams, as it lands (a receiver that shows what it receives). */
  onUpload?: (e: UploadActivity) => void;
}

/** A peer's upload stream: it opened, a chunk landed, it ended (every chunk landed, or not). */
export type UploadActivity =
  | { type: 'started'; stream: number; peer: PeerIdentity }
  | { type: 'chunk'; stream: number; peer: PeerIdentity; chunks: number; bytes: number }
  | { type: 'ended'; stream: number; peer: PeerIdentity; chunks: number; bytes: number; ok: boolean };

/** Who sends, from the stream's client certificate. */
export interface PeerIdentity { nodeId: string; name: string }

let streamCount = 0;

function peerOf(socket: TLSSocket): PeerIdentity {
  try {
    const raw = socket.getPeerCertificate?.()?.raw;
    if (!raw) return { nodeId: '?', name: '' };
    const cert = new X509Certificate(raw);
    return { nodeId: nodeIdFromCertPem(cert.toString()), name: /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? '' };
  } catch {
    return { nodeId: '?', name: '' };
  }
}

/** Chunk commits under way, and who waits for there to be none. */
interface Commits { count: number; idle: Set<() => void> }

/** Streams open now: cut when the node closes (they are no longer the HTTP server's). */
export class BulkStreams {
  private readonly open = new Set<Duplex>();
  /** Chunk commits under way, of open streams and of streams cut meanwhile (they still land). */
  private readonly commits: Commits = { count: 0, idle: new Set() };

  constructor(private readonly opts: BulkServerOptions) {}

  /** Streams open plus chunk commits under way: 0 once every chunk received has landed. */
  get busy(): number {
    return this.open.size + this.commits.count;
  }

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
    if (mode === 'upload') new UploadStream(socket, this.opts, this.commits, this.opts.onUpload ? peerOf(socket as TLSSocket) : null).start(head);
    else new FetchStream(socket, this.opts).start(head);
  }

  /**
   * Cuts every stream, then waits for the chunk commits under way (a few chunks' writes): the
   * node's index and store may be closed or removed once this resolves.
   */
  async closeAll(): Promise<void> {
    for (const s of this.open) s.destroy();
    this.open.clear();
    while (this.commits.count > 0) await new Promise<void>((resolve) => this.commits.idle.add(resolve));
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
    this.closeAfter(END_FRAME);
  }

  /**
   * Sends our last frame and ends our side; what the peer still sends is read and dropped until it
   * closes (closing on unread bytes would reset the connection and could lose that last frame),
   * for at most LINGER_MS.
   */
  private closeAfter(last: Buffer): void {
    this.socket.end(last);
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
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
    this.closeAfter(errorFrame(e.code, e.message));
  }
}

/** How long a stream that said its last word waits for the peer to close before cutting it. */
const LINGER_MS = 5000;

/** Chunks of one upload committing at once (written, closed, renamed): the disk works while the socket reads on. */
const MAX_COMMITTING = 4;
/** Bytes of one upload taken and not yet on disk before the socket stops reading. */
const MAX_UNWRITTEN_BYTES = 8 * 1024 * 1024;

/**
 * mode=upload. Each chunk is hashed as its pieces come and committed on its own while the next
 * ones arrive; acknowledgements go out in order as commits finish. The socket stops reading while
 * too many chunks are committing or too many bytes wait for the disk.
 */
class UploadStream extends Stream {
  constructor(socket: Duplex, opts: BulkServerOptions, private readonly commits: Commits, private readonly peer: PeerIdentity | null) {
    super(socket, opts);
  }

  private readonly stream = ++streamCount;
  private landed = { chunks: 0, bytes: 0 };
  private told = false;

  /** Says what landed (the receiver's display); `ended` once, when the stream is over. */
  private report(type: 'started' | 'chunk' | 'ended', ok = false): void {
    const on = this.opts.onUpload;
    if (!on || this.peer === null || this.told) return;
    if (type === 'ended') this.told = true;
    if (type === 'started') on({ type, stream: this.stream, peer: this.peer });
    else if (type === 'chunk') on({ type, stream: this.stream, peer: this.peer, ...this.landed });
    else on({ type, stream: this.stream, peer: this.peer, ...this.landed, ok });
  }

  private current: IncomingChunk | null = null;
  private readonly committing: Array<{ chunk: IncomingChunk; done: boolean; failed: unknown }> = [];
  private peerDone = false;
  private paused = false;

  override start(head: Buffer): void {
    this.report('started');
    super.start(head, ['chunk', 'end'], 'the upload');
  }

  protected sink(): ConstructorParameters<typeof FrameParser>[1] {
    return {
      head: ({ kind, id, length }) => {
        if (kind === 'end') this.onEnd();
        else this.current = this.opts.store.incoming(id, length);
      },
      body: (piece) => {
        this.current!.push(piece);
        this.throttle();
      },
      done: () => {
        const chunk = this.current;
        if (chunk === null) return; // the end frame's
        this.current = null;
        const entry = { chunk, done: false, failed: null as unknown };
        this.committing.push(entry);
        this.commits.count++;
        chunk.finish().then(() => {
          entry.done = true;
        }, (err: unknown) => {
          entry.done = true;
          entry.failed = err ?? new Error('commit failed');
        }).finally(() => {
          if (--this.commits.count === 0) {
            for (const wake of this.commits.idle) wake();
            this.commits.idle.clear();
          }
          this.settle();
        });
        this.throttle();
      },
    };
  }

  protected onEnd(): void {
    this.peerDone = true;
    this.settle();
  }

  protected override onClose(): void {
    super.onClose();
    void this.current?.abort();
    this.report('ended', this.peerDone && this.committing.length === 0 && this.current === null);
  }

  protected override fail(err: unknown): void {
    void this.current?.abort();
    super.fail(err);
    this.report('ended', false);
  }

  /** Acknowledges, in order, the chunks whose commit is done; ends once the peer is done and all are. */
  private settle(): void {
    while (this.committing.length > 0 && this.committing[0]!.done && !this.ended) {
      const { chunk, failed } = this.committing.shift()!;
      if (failed !== null) {
        this.fail(failed);
        return;
      }
      // Landed: said at once, so the sender may reuse that chunk's buffer.
      this.socket.write(frameHeader(chunk.id, 0));
      this.opts.afterChunk();
      this.landed = { chunks: this.landed.chunks + 1, bytes: this.landed.bytes + chunk.length };
      this.report('chunk');
    }
    if (this.peerDone && this.committing.length === 0 && this.current === null) {
      this.report('ended', true);
      this.finishStream();
    }
    else this.throttle();
  }

  private throttle(): void {
    const waitingForDisk = (this.current?.unwritten ?? 0) > MAX_UNWRITTEN_BYTES;
    const busy = this.committing.length >= MAX_COMMITTING || waitingForDisk;
    if (busy && !this.paused) {
      this.paused = true;
      this.socket.pause();
      if (waitingForDisk) void this.current!.written().then(() => this.throttle());
    } else if (!busy && this.paused && !this.ended) {
      this.paused = false;
      this.socket.resume();
    }
  }
}

/** Read buffers a fetch stream serves from: the chunk being written, the next being read, one spare. */
const FETCH_BUFFERS = 3;

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

  /** Reads one asked chunk into a reused buffer (null: not held). */
  private async read(id: string): Promise<{ id: string; buf: Buffer; blob: Buffer | null }> {
    const buf = this.buffers.take();
    try {
      return { id, buf, blob: await this.opts.store.readInto(id, (size) => (size <= buf.length ? buf : Buffer.allocUnsafeSlow(size))) };
    } catch (err) {
      if (!(err instanceof P2pfxError && err.code === 'CHUNK_NOT_FOUND')) throw err;
      return { id, buf, blob: null };
    }
  }

  /** Serves the asks in order, reading the next chunk while the one before goes out. */
  private async serve(): Promise<void> {
    this.serving = true;
    let next: Promise<Awaited<ReturnType<FetchStream['read']>>> | null = null;
    try {
      while (!this.ended) {
        const reading = next ?? (this.asked.length > 0 ? this.read(this.asked.shift()!) : null);
        next = null;
        if (reading === null) break;
        const { id, buf, blob } = await reading;
        if (this.asked.length > 0) next = this.read(this.asked.shift()!);
        if (this.asked.length < MAX_PENDING_FETCHES / 2 && !this.peerDone) this.socket.resume();
        if (this.ended) break;
        this.socket.write(frameHeader(id, blob === null ? null : blob.length));
        // The buffer goes back only once the socket has taken its bytes.
        if (blob !== null) await new Promise<void>((resolve, reject) => this.socket.write(blob, (err) => (err ? reject(err) : resolve())));
        // (A chunk re-sealed on a worker comes back in the buffer the worker returned: that one.)
        this.buffers.give(blob !== null ? (blob.buffer as ArrayBuffer) : buf);
      }
      this.serving = false;
      if (this.peerDone) this.finishStream();
    } catch (err) {
      this.serving = false;
      void next?.catch(() => undefined);
      this.fail(toP2pfxError(err));
    }
  }
}
