// The HTTP/1.1 upgrade that opens a bulk stream, done by hand on a connection of our own, so that
// the connection can read into one reused buffer (`onread`): a download from eight holders reads
// ~100 MB/s through eight TLS sockets, and a socket read through node:http hands out a fresh
// buffer per TLS record (16 KiB), garbage that piles up between collections (DESIGN "Bulk
// streams"). One request goes out (GET PATH, Upgrade: PROTOCOL); the answer's head is read
// (bounded), and either the connection is ours from the byte after it (101), or the peer's
// refusal is read whole (bounded) and handed back as an ordinary answer.
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { TransportResponse } from './peer-transport.js';
import { P2pfxError } from '../core/errors.js';
import { TransportError } from './transport-errors.js';

/** Bytes a bulk stream's socket reads into: one buffer, reused for every read (a TLS record is ≤ 16 KiB). */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Most bytes an answer's head may have (node:http's own default). */
const MAX_HEAD_BYTES = 16 * 1024;
/** Most bytes of a refusal's body that are read (our errors are a few hundred). */
const MAX_REFUSAL_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/** An upgraded connection: its bytes go to `read`'s sink, from the first the peer sent past its answer. */
export interface Upgraded {
  socket: TLSSocket;
  headers: IncomingHttpHeaders;
  /**
   * From now on the connection's bytes go to `sink`, each piece a view into the reused read
   * buffer: use or copy it before returning. Call once.
   */
  read(sink: (piece: Buffer) => void): void;
}

export type UpgradeAnswer = Upgraded | { refused: TransportResponse };

/**
 * Asks for the upgrade on `socket` (connected, checked, made with `onread` pointing at
 * `onRead`) and reads the answer. Fails with what the caller maps (net/peer-errors.ts): the
 * connection cut before an answer (ECONNRESET, as node:http says it), silence past
 * `idleTimeoutMs` (a TransportError, HEADERS_TIMEOUT), a head that is not HTTP/1.x or is too
 * long (PEER_ERROR), or the socket's own error.
 */
export class UpgradeExchange {
  private phase: 'head' | 'refusal' | 'open' | 'done' = 'head';
  /** The answer's bytes read so far, while its head is not whole (copies). */
  private head = Buffer.alloc(0);
  private refusal: { status: number; headers: IncomingHttpHeaders; body: Buffer[]; size: number; expected: number | null } | null = null;
  private sink: ((piece: Buffer) => void) | null = null;
  /** Bytes read once upgraded, before the sink was given (copies). */
  private held: Buffer[] = [];
  private socket: TLSSocket | null = null;
  private settle: { resolve: (a: UpgradeAnswer) => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly label: string) {}

  /** For the socket's `onread.callback`: every read goes through here. */
  readonly onRead = (n: number, buf: Buffer): boolean => {
    const piece = buf.subarray(0, n);
    if (this.phase === 'open') {
      if (this.sink !== null) this.sink(piece);
      else this.held.push(Buffer.from(piece));
    } else if (this.phase === 'head') this.readHead(piece);
    else if (this.phase === 'refusal') this.readRefusal(piece);
    return true;
  };

  /** Writes the request on `socket` and resolves with the peer's answer. */
  run(socket: TLSSocket, path: string, protocol: string, idleTimeoutMs: number): Promise<UpgradeAnswer> {
    this.socket = socket;
    return new Promise<UpgradeAnswer>((resolve, reject) => {
      this.settle = { resolve, reject };
      socket.setTimeout(idleTimeoutMs, () => this.fail(new TransportError(`peer ${this.label} stopped answering`, 'HEADERS_TIMEOUT')));
      // Past the answer the stream's own listeners take the socket's errors; this one only keeps
      // an error between the two from being unheard.
      socket.on('error', (err) => this.fail(err));
      socket.once('close', () => {
        if (this.phase === 'refusal') this.refused();
        else this.fail(Object.assign(new Error(`peer ${this.label} closed the connection before answering`), { code: 'ECONNRESET' }));
      });
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${this.label}\r\nconnection: Upgrade\r\nupgrade: ${protocol}\r\n\r\n`);
    });
  }

  private readHead(piece: Buffer): void {
    const all = Buffer.concat([this.head, piece]);
    const end = all.indexOf(HEAD_END);
    if (end < 0) {
      if (all.length > MAX_HEAD_BYTES) this.fail(new P2pfxError('PEER_ERROR', `peer ${this.label} answered with a head over ${MAX_HEAD_BYTES} bytes`));
      else this.head = all;
      return;
    }
    this.head = Buffer.alloc(0);
    const parsed = parseHead(all.toString('latin1', 0, end));
    const rest = all.subarray(end + HEAD_END.length);
    if (parsed === null) {
      this.fail(new P2pfxError('PEER_ERROR', `peer ${this.label} answered with something that is not HTTP/1.1`));
      return;
    }
    if (parsed.status === 101) {
      this.phase = 'open';
      if (rest.length > 0) this.held.push(rest);
      const socket = this.socket!;
      socket.setTimeout(0);
      socket.pause();
      this.finish({
        socket, headers: parsed.headers,
        read: (sink) => {
          this.sink = sink;
          for (const piece of this.held.splice(0)) sink(piece);
          socket.resume();
        },
      });
      return;
    }
    const length = Number(parsed.headers['content-length']);
    this.phase = 'refusal';
    this.refusal = { status: parsed.status, headers: parsed.headers, body: [], size: 0, expected: Number.isSafeInteger(length) && length >= 0 ? length : null };
    this.readRefusal(rest);
  }

  private readRefusal(piece: Buffer): void {
    const r = this.refusal!;
    const want = Math.min(r.expected ?? MAX_REFUSAL_BYTES, MAX_REFUSAL_BYTES) - r.size;
    if (want > 0 && piece.length > 0) {
      const part = Buffer.from(piece.subarray(0, want));
      r.body.push(part);
      r.size += part.length;
    }
    if (r.size >= Math.min(r.expected ?? Infinity, MAX_REFUSAL_BYTES)) this.refused();
  }

  /** The refusal is read (or the connection closed after it): handed back as an answer. */
  private refused(): void {
    const r = this.refusal!;
    this.socket!.destroy();
    this.finish({ refused: { status: r.status, headers: r.headers, body: Readable.from([Buffer.concat(r.body)]) } });
  }

  private finish(answer: UpgradeAnswer): void {
    if (this.settle === null) return;
    const { resolve } = this.settle;
    this.settle = null;
    if (this.phase !== 'open') this.phase = 'done';
    resolve(answer);
  }

  private fail(err: Error): void {
    if (this.settle === null) return;
    const { reject } = this.settle;
    this.settle = null;
    this.phase = 'done';
    this.socket?.destroy();
    reject(err);
  }
}

/** Status and headers of an answer's head (lowercase names, repeated ones joined), or null when it is not HTTP/1.x. */
function parseHead(text: string): { status: number; headers: IncomingHttpHeaders } | null {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (status === null) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(status[1]), headers };
}
