// Bulk streams, the asking side (DESIGN "Bulk streams"): an upgraded mutual-TLS connection to a
// peer carrying frames (protocol/bulk.ts) — chunks out and their ids back as they land (upload), or
// ids out and chunks back in order (fetch). Frames are parsed straight off the TLS socket as they
// arrive, each read landing in the connection's one reused buffer (net/upgrade.ts): no HTTP body
// and no buffer per read in between. Opened by PeerClient.openUpload()/openFetch().
import type { TLSSocket } from 'node:tls';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import { END_FRAME, FrameParser, frameHeader, type FrameHead, type FrameKind } from './protocol/bulk.js';
import { MAX_BLOB_BYTES } from '../core/limits.js';
import type { Upgraded } from './upgrade.js';

export interface ChannelOptions {
  label: string;
  /** How long the peer may stay silent while we wait for it. */
  idleTimeoutMs: number;
  /** Maps a socket or TLS failure to a P2pfxError (PeerClient.transportError). */
  transportError: (err: unknown) => P2pfxError;
}

/** What both kinds share: the socket, its parser, the error frame, and how the stream ends. */
abstract class Channel {
  private failure: P2pfxError | null = null;
  private closed = false;
  private readonly closedWaiters = new Set<(err: P2pfxError | null) => void>();
  private readonly drainWaiters = new Set<() => void>();
  private errorBody: Buffer[] | null = null;
  /** The peer's end frame arrived. */
  private peerEnded = false;
  private readonly failedListeners = new Set<(err: P2pfxError) => void>();
  private readonly parser: FrameParser;
  protected readonly socket: TLSSocket;

  constructor(private readonly upgraded: Upgraded, protected readonly opts: ChannelOptions, kinds: readonly FrameKind[], what: string) {
    const socket = upgraded.socket;
    this.socket = socket;
    this.parser = new FrameParser({ maxBlobBytes: MAX_BLOB_BYTES, kinds: [...kinds, 'end', 'error'] }, {
      head: (h) => {
        if (h.kind === 'error') this.errorBody = [];
        else if (h.kind === 'end') {
          this.peerEnded = true;
          this.onPeerEnd();
        } else this.onHead(h);
      },
      body: (piece) => {
        if (this.errorBody !== null) this.errorBody.push(Buffer.from(piece));
        else this.onBody(piece);
      },
      done: () => {
        if (this.errorBody !== null) this.peerError(Buffer.concat(this.errorBody));
        else if (!this.peerEnded) this.onDone();
      },
    }, `the ${what} stream of ${opts.label}`);
    socket.setTimeout(opts.idleTimeoutMs, () => {
      if (this.waitingForPeer()) this.fail(new P2pfxError('PEER_TIMEOUT', `peer ${opts.label} stopped answering`));
    });
    socket.on('drain', () => this.wakeDrain());
    socket.once('end', () => {
      if (this.failure !== null || this.peerEnded) return;
      try {
        this.parser.end();
      } catch (err) {
        this.fail(err);
      }
    });
    socket.on('error', (err) => this.fail(opts.transportError(err)));
    socket.once('close', () => {
      this.closed = true;
      if (this.failure === null && !this.peerEnded && !this.complete()) this.fail(new P2pfxError('PEER_UNREACHABLE', `connection to ${opts.label} was closed in the middle of a bulk stream`));
      for (const w of this.closedWaiters) w(this.failure);
      this.closedWaiters.clear();
      this.wakeDrain();
    });
  }

  /** Starts reading the stream: called by each kind once its own fields are set. */
  protected listen(): void {
    if (this.upgraded.socket.destroyed) {
      this.closed = true;
      this.fail(new P2pfxError('PEER_UNREACHABLE', `connection to ${this.opts.label} was closed as its bulk stream opened`));
      return;
    }
    this.upgraded.read((piece) => {
      if (this.failure !== null) return;
      try {
        this.parser.push(piece);
      } catch (err) {
        this.fail(err instanceof P2pfxError && (err.code === 'BAD_REQUEST' || err.code === 'CHUNK_TOO_LARGE')
          ? new P2pfxError('PEER_ERROR', `peer ${this.opts.label}: ${err.message}`) : err);
      }
    });
  }

  /** The first failure, once there is one. */
  get error(): P2pfxError | null {
    return this.failure;
  }

  /** Whether more may be asked of it: open, not failed, not ended by either side. */
  get usable(): boolean {
    return !this.closed && this.failure === null && !this.peerEnded && !this.socket.writableEnded && !this.saidEnd;
  }

  /** Our end frame went out. */
  protected saidEnd = false;

  /** Says we are done (our end frame); the peer answers what is due, then its own end frame. */
  protected sayEnd(): void {
    if (this.saidEnd || this.failure !== null) return;
    this.saidEnd = true;
    this.socket.write(END_FRAME);
  }

  /** Hears the stream's failure, once. */
  onFailed(listener: (err: P2pfxError) => void): void {
    if (this.failure !== null) listener(this.failure);
    else this.failedListeners.add(listener);
  }

  /** Cuts the stream (nothing more is sent or read). */
  destroy(): void {
    this.socket.destroy();
  }

  protected abstract onHead(h: FrameHead): void;
  protected onBody(_piece: Buffer): void {}
  protected abstract onDone(): void;
  /** The peer's end frame: throws if it came too early. */
  protected abstract onPeerEnd(): void;
  /** Whether a close without the peer's end frame is still no failure (nothing was owed). */
  protected abstract complete(): boolean;
  /** Whether something is awaited from the peer (silence is then a timeout). */
  protected abstract waitingForPeer(): boolean;
  protected abstract onFail(err: P2pfxError): void;

  protected fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = err instanceof P2pfxError ? err : this.opts.transportError(err);
    this.socket.destroy();
    this.onFail(this.failure);
    for (const l of this.failedListeners) l(this.failure);
    this.failedListeners.clear();
    this.wakeDrain();
  }

  /** Writes; resolves at once, or when the socket has room again (or the stream failed). */
  protected async write(bytes: Uint8Array): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (this.socket.write(bytes)) return;
    await new Promise<void>((resolve) => this.drainWaiters.add(resolve));
    if (this.failure !== null) throw this.failure;
  }

  /** Resolves once the connection is closed: with the failure, if any. */
  protected whenClosed(): Promise<P2pfxError | null> {
    if (this.closed) return Promise.resolve(this.failure);
    return new Promise((resolve) => this.closedWaiters.add(resolve));
  }

  private wakeDrain(): void {
    for (const w of this.drainWaiters) w();
    this.drainWaiters.clear();
  }

  private peerError(body: Buffer): void {
    let wire: { error?: { code?: unknown; message?: unknown } } = {};
    try {
      wire = JSON.parse(body.toString('utf8')) as typeof wire;
    } catch {
      // reported below as PEER_ERROR
    }
    const code = wire.error?.code;
    const message = typeof wire.error?.message === 'string' ? wire.error.message : 'an error it did not explain';
    this.fail(isErrorCode(code) && code !== 'INTERNAL' ? new P2pfxError(code, `peer ${this.opts.label}: ${message}`)
      : new P2pfxError('PEER_ERROR', `peer ${this.opts.label} ended a bulk stream with ${String(code ?? 'an error')}: ${message}`));
  }
}

/**
 * mode=upload: send() chunk frames; `onLanded` hears each id once the peer has stored it, in the
 * order sent. end() resolves once every chunk sent has landed and the peer closed cleanly.
 */
export class UploadChannel extends Channel {
  private readonly unacked: string[] = [];
  private ending = false;
  private readonly landed = new Set<(id: string) => void>();

  constructor(upgraded: Upgraded, opts: ChannelOptions) {
    super(upgraded, opts, ['empty'], 'upload');
    this.listen();
  }

  onLanded(listener: (id: string) => void): void {
    this.landed.add(listener);
  }

  /** Sends one chunk; resolves when the socket can take more. Throws the stream's failure. */
  async send(id: string, blob: Uint8Array): Promise<void> {
    this.unacked.push(id);
    await this.write(frameHeader(id, blob.length));
    await this.write(blob);
  }

  get inFlight(): number {
    return this.unacked.length;
  }

  /** No more chunks: resolves once all have landed and the peer ended, or throws the failure. */
  async end(): Promise<void> {
    this.ending = true;
    if (this.error !== null) throw this.error;
    this.sayEnd();
    const err = await this.whenClosed();
    if (err !== null) throw err;
  }

  protected onHead(h: FrameHead): void {
    const expected = this.unacked.shift();
    if (expected !== h.id) throw new P2pfxError('PEER_ERROR', `peer ${this.opts.label} acknowledged chunk ${h.id} where ${expected ?? 'nothing'} was due`);
    for (const l of this.landed) l(h.id);
  }

  protected onDone(): void {}

  protected onPeerEnd(): void {
    if (!this.ending || this.unacked.length > 0) throw new P2pfxError('PEER_ERROR', `peer ${this.opts.label} ended the upload with ${this.unacked.length} chunks not acknowledged`);
    this.socket.end();
  }

  protected complete(): boolean {
    return false; // only the peer's end frame completes an upload
  }

  protected waitingForPeer(): boolean {
    return this.unacked.length > 0 || this.ending;
  }

  protected onFail(): void {}
}

/**
 * mode=fetch: ask() names chunks; `onChunk` gets each in the order asked, its blob read into
 * `alloc(size)` — or null where the peer does not hold it. A frame for another id than the one
 * due is PEER_ERROR; a length other than the size asked for is HASH_MISMATCH, refused before any
 * byte of it is read. The caller checks each blob against its id.
 */
export class FetchChannel extends Channel {
  private readonly due: Array<{ id: string; size: number }> = [];
  private blob: Buffer | null = null;
  private at = 0;
  private ending = false;

  constructor(upgraded: Upgraded, opts: ChannelOptions, private readonly alloc: (size: number) => Buffer,
    private readonly onChunk: (id: string, blob: Buffer | null) => void, private readonly onFailure: (err: P2pfxError, unanswered: string[]) => void) {
    super(upgraded, opts, ['chunk', 'absent'], 'fetch');
    this.listen();
  }

  get inFlight(): number {
    return this.due.length;
  }

  /** Asks for a chunk whose blob is `size` bytes. Fails through onFailure, never throws. */
  ask(id: string, size: number): void {
    this.due.push({ id, size });
    this.write(frameHeader(id, 0)).catch(() => undefined);
  }

  /** Nothing more will be asked: the stream ends once the peer has answered. */
  end(): void {
    this.ending = true;
    this.sayEnd();
  }

  protected onHead(h: FrameHead): void {
    const due = this.due[0];
    if (due === undefined || due.id !== h.id) throw new P2pfxError('PEER_ERROR', `peer ${this.opts.label} sent chunk ${h.id} where ${due?.id ?? 'nothing'} was due`);
    if (h.kind === 'chunk' && h.length !== due.size) throw new P2pfxError('HASH_MISMATCH', `peer ${this.opts.label} sent ${h.length} bytes for chunk ${h.id}, whose size is ${due.size}`);
    this.blob = h.kind === 'chunk' ? this.alloc(h.length) : null;
    this.at = 0;
  }

  protected override onBody(piece: Buffer): void {
    piece.copy(this.blob!, this.at);
    this.at += piece.length;
  }

  protected onDone(): void {
    const { id } = this.due.shift()!;
    const blob = this.blob === null ? null : this.blob.subarray(0, this.at);
    this.blob = null;
    this.onChunk(id, blob);
  }

  protected onPeerEnd(): void {
    if (!this.ending || this.due.length > 0) throw new P2pfxError('PEER_ERROR', `peer ${this.opts.label} ended the fetch stream with ${this.due.length} chunks unanswered`);
    this.socket.end();
  }

  protected complete(): boolean {
    return this.due.length === 0;
  }

  protected waitingForPeer(): boolean {
    return this.due.length > 0;
  }

  protected onFail(err: P2pfxError): void {
    const unanswered = this.due.splice(0).map((d) => d.id);
    this.onFailure(err, unanswered);
  }
}
