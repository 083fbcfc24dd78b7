// The HTTP/1.1 transport to one peer, on Node's own https client: a keep-alive pool of mutual-TLS
// connections (an Agent), each checked as it is made (who the peer is), with a connect timeout
// and an idle timeout while a request waits or streams. Request bodies may stream from an async
// iterable, written as the socket drains. Replaced whole when the TLS settings change (a newer
// CRL): the old pool finishes what it has in flight, then closes.
// Why not undici: loading it and making one request costs a process ~34 MiB of resident memory
// against ~12 for node:https (measured, Node 24), and a `get` must stay under 150 MiB.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest, type AgentOptions } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import { connect as connectTls, type ConnectionOptions, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { P2pfxError } from '../core/errors.js';
import { TransportError } from './transport-errors.js';
import { READ_BUFFER_BYTES, UpgradeExchange, type UpgradeAnswer } from './upgrade.js';

export interface TransportOptions {
  host: string;
  port: number;
  /** HOST:PORT, for messages. */
  label: string;
  /** Connections kept to the peer (requests beyond wait for one). */
  connections: number;
  connectTimeoutMs: number;
  /** How long the peer may stay silent while a request waits for or streams its answer. */
  idleTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveMs: number;
  /**
   * Called once a connection's TLS handshake is done, before any request uses it: returns an
   * error to refuse the peer (the connection is closed, the request fails with it).
   */
  onConnect: (socket: TLSSocket) => Error | null;
  /** Cuts everything of this transport at once: connections being made, requests under way. */
  signal?: AbortSignal;
}

export interface TransportRequest {
  method: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  /** A whole body, or one streamed as it is pulled (chunked). */
  body?: string | Uint8Array | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, as it streams; read it whole or destroy it. */
  body: Readable;
}

interface Pool { agent: Agent; active: number; retired: boolean }

/** tls.connect's `onread`: every read lands in `buffer`, and `callback` gets how many bytes. */
interface OnRead { buffer: Buffer; callback: (bytes: number, buffer: Buffer) => boolean }

export class PeerTransport {
  private pool: Pool;
  private readonly idle = new Set<() => void>();

  constructor(private readonly opts: TransportOptions, private tls: SecureContextOptions) {
    this.pool = this.makePool();
  }

  /** New TLS settings for every connection made from now on. */
  renew(tls: SecureContextOptions): void {
    this.tls = tls;
    this.retire(this.pool);
    this.pool = this.makePool();
  }

  /** Closes every connection once the requests in flight are done. */
  async close(): Promise<void> {
    this.retire(this.pool);
    if (this.pool.active > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  request(req: TransportRequest): Promise<TransportResponse> {
    const pool = this.pool;
    pool.active++;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      if (--pool.active === 0 && pool.retired) this.closePool(pool);
    };
    return new Promise<TransportResponse>((resolve, reject) => {
      const whole = typeof req.body === 'string' || req.body instanceof Uint8Array ? req.body : null;
      const headers: OutgoingHttpHeaders = { ...req.headers };
      if (whole !== null) headers['content-length'] = Buffer.byteLength(whole);
      const r = httpsRequest({ agent: pool.agent, host: this.opts.host, port: this.opts.port, method: req.method, path: req.path, headers, signal: req.signal ?? this.opts.signal });
      let answered = false;
      r.setTimeout(this.opts.idleTimeoutMs, () => {
        r.destroy(new TransportError(`peer ${this.opts.label} stopped answering`, answered ? 'BODY_TIMEOUT' : 'HEADERS_TIMEOUT'));
      });
      r.once('error', (err) => {
        done();
        reject(err);
      });
      r.once('response', (res) => {
        answered = true;
        res.once('close', done);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      const streamed = req.body;
      if (streamed === undefined || typeof streamed === 'string' || streamed instanceof Uint8Array) {
        r.end(whole ?? undefined);
        return;
      }
      void writeStreamed(r, streamed).catch((err: unknown) => r.destroy(err instanceof Error ? err : new Error(String(err))));
    });
  }

  /**
   * An HTTP/1.1 upgrade (GET `path` with `Upgrade: protocol`) on a connection of its own, made
   * to read into one reused buffer (net/upgrade.ts): the connection once the peer answers 101,
   * or the peer's answer when it refuses. Its idle timeout, once upgraded, is the caller's.
   */
  async upgrade(path: string, protocol: string): Promise<UpgradeAnswer> {
    const exchange = new UpgradeExchange(this.opts.label);
    const socket = await this.connect({ buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: exchange.onRead });
    return exchange.run(socket, path, protocol, this.opts.idleTimeoutMs);
  }

  private makePool(): Pool {
    const agentOptions: AgentOptions = { keepAlive: true, maxSockets: this.opts.connections, maxFreeSockets: this.opts.connections, timeout: this.opts.keepAliveMs, scheduling: 'lifo' };
    const pool: Pool = { agent: new PeerAgent(agentOptions, () => this.connect()), active: 0, retired: false };
    return pool;
  }

  private retire(pool: Pool): void {
    pool.retired = true;
    if (pool.active === 0) this.closePool(pool);
  }

  private closePool(pool: Pool): void {
    pool.agent.destroy();
    if (pool === this.pool) for (const resolve of this.idle) resolve();
    this.idle.clear();
  }

  /**
   * One mutual-TLS connection, checked before it is handed to the pool (or, reading into
   * `onread`'s buffer, to an upgrade).
   */
  private connect(onread?: OnRead): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      // `onread` is tls.connect's (documented; not in @types/node's ConnectionOptions).
      const options: ConnectionOptions & { onread?: OnRead } = {
        ...this.tls, host: this.opts.host, port: this.opts.port, rejectUnauthorized: true,
        // A LAN address is not an identity (DHCP moves it); the CA signature and the node id are.
        checkServerIdentity: () => undefined,
        ...(onread === undefined ? {} : { onread }),
      };
      const socket = connectTls(options);
      // Requests are small writes followed by waits for an answer: Nagle's delay would add tens of
      // milliseconds to each (node:http sets this for its own connections, not for ours).
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new TransportError(`connecting to ${this.opts.label} timed out`, 'CONNECT_TIMEOUT')), this.opts.connectTimeoutMs);
      // A request waiting for this connection learns of an abort only once it is made: cut it here.
      const cut = (): void => void socket.destroy(new TransportError(`the connection to ${this.opts.label} was cut`, 'ABORT_ERR'));
      if (this.opts.signal?.aborted) cut();
      this.opts.signal?.addEventListener('abort', cut, { once: true });
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', cut);
        reject(err);
      };
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', cut);
        socket.off('error', fail);
        const refused = this.opts.onConnect(socket);
        if (refused !== null) {
          socket.destroy();
          reject(refused);
          return;
        }
        resolve(socket);
      });
    });
  }
}

/** An https Agent whose connections are made (and checked) by `connect`. */
class PeerAgent extends Agent {
  constructor(options: AgentOptions, private readonly connectPeer: () => Promise<TLSSocket>) {
    super(options);
  }

  override createConnection(_options: unknown, callback?: (err: Error | null, socket: Duplex) => void): Duplex | undefined {
    // The agent waits for the callback when nothing is returned (node:http's documented contract).
    this.connectPeer().then((socket) => callback?.(null, socket), (err: Error) => callback?.(err, undefined as unknown as Duplex));
    return undefined;
  }
}

/** Writes an async iterable as the request body, waiting for the socket to drain, then ends it. */
async function writeStreamed(r: import('node:http').ClientRequest, body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const piece of body) {
    if (r.destroyed) return;
    if (!r.write(piece)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          r.off('drain', go);
          r.off('close', go);
          resolve();
        };
        r.once('drain', go);
        r.once('close', go);
      });
    }
  }
  if (!r.destroyed) r.end();
}

/** The P2pfxError for a transport failure we can name without knowing the peer's side. */
export function timeoutError(err: unknown, label: string): P2pfxError | null {
  if (!(err instanceof TransportError)) return null;
  if (err.code === 'CONNECT_TIMEOUT') return new P2pfxError('PEER_TIMEOUT', `connecting to ${label} timed out`, { cause: err });
  return new P2pfxError('PEER_TIMEOUT', err.message, { cause: err });
}
