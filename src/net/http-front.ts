// The one HTTP front of p2pfx (DESIGN "One HTTP front"): every listener — the node API of
// net/server.ts, the enrollment listener of net/enroll.ts, the web UI of ui/server.ts — is a
// fastify app made here, with one error shape and one set of defences:
// - every refusal is `{error: {code, message}}` with the code's status, also for what fails before
//   any route (a URL fastify cannot decode, a parameter over its cap), a request HTTP itself cannot
//   parse (written straight to the socket), an HTTP/1.1 request without Host, an Expect other than
//   100-continue, and a route that does not exist;
// - a request (headers and body) must arrive within its time, its headers sooner, and an idle
//   keep-alive connection is closed;
// - optionally, bounds per source address (an IPv4 address, an IPv6 /64): connections open at
//   once (past it the connection is closed before TLS), requests per minute (RATE_LIMITED,
//   through @fastify/rate-limit), and connections in all.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket, TlsOptions } from 'node:tls';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { P2pfxError } from '../core/errors.js';
import { clientErrorAnswer, toWireError } from './wire-error.js';

/** How often Node looks for requests past their time (its own default; less for short timeouts). */
const TIMEOUT_CHECK_MS = 30_000;
/** The headers of a request must be in within this (Node's default), or the request timeout if shorter. */
const HEADERS_TIMEOUT_MS = 60_000;

export interface SourceBounds {
  /** Connections one source may hold open at once; past it a new one is closed unanswered. */
  connections: number;
  /** Requests one source may make per minute; past it RATE_LIMITED (429) until the minute ends. */
  requestsPerMinute: number;
}

export interface HttpFrontOptions {
  /** TLS for an HTTPS front; none for the web UI, which answers on 127.0.0.1 only. */
  https?: SecureContextOptions & TlsOptions;
  /** pino logger options, or false for none. */
  logger?: boolean | Record<string, unknown>;
  bodyLimit: number;
  /** A request's headers and body must all arrive within this: a stalled client is cut off. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection that sends nothing is closed after this (default: none but the request timeout). */
  idleTimeoutMs?: number;
  /** A TLS handshake must be done within this (Node's default: 120 s). */
  handshakeTimeoutMs?: number;
  /** Coerce query and parameter types from their text (the node API); off where a MAC covers the body as sent. */
  coerceTypes?: boolean;
  /** Said after "no route METHOD PATH" (which listener this is, what it answers). */
  notFoundHint?: string;
  /** Error answers also carry the code's hint (the web UI shows it). */
  withHint?: boolean;
  /** Bounds per source address; none by default. */
  perSource?: SourceBounds;
  /**
   * Connections one authenticated peer may hold at once (mutual TLS: `key` names the peer by its
   * certificate); past it a new connection is closed right after its handshake.
   */
  perPeer?: { connections: number; key: (socket: TLSSocket) => string | null };
  /** Connections in all; past it a new one is closed unanswered. */
  maxConnections?: number;
}

/** The error answer of this front: `{error: {code, message}}`, with the hint where asked. */
function errorBody(e: P2pfxError, withHint: boolean): unknown {
  return withHint ? { error: { code: e.code, message: e.message, hint: e.hint } } : e.toJSON();
}

/** A fastify app with the error shape and defences above; routes are added by the caller. */
export async function createHttpFront(opts: HttpFrontOptions): Promise<FastifyInstance> {
  const withHint = opts.withHint ?? false;
  const requestTimeout = opts.requestTimeoutMs;
  const sendError = (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const e = toWireError(err);
    if (e.code === 'INTERNAL') request.log.error({ err }, 'internal error');
    void reply.status(e.status).send(errorBody(e, withHint));
  };
  // Node checks for requests past their time every connectionsCheckingInterval: often enough that
  // a short timeout holds. Its headers timeout must not exceed the request timeout, or Node swaps
  // the two and a body may stall that long. Node's own answer to an HTTP/1.1 request without Host
  // has no body: checked in a hook below instead.
  const serverOptions = {
    requestTimeout, headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, Math.max(50, Math.floor(requestTimeout / 4))),
    requireHostHeader: false,
  };
  const app = Fastify({
    ...(opts.https ? { https: { ...opts.https, ...serverOptions, ...(opts.handshakeTimeoutMs ? { handshakeTimeout: opts.handshakeTimeoutMs } : {}) } } : { http: serverOptions }),
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit,
    requestTimeout,
    ...(opts.idleTimeoutMs ? { connectionTimeout: opts.idleTimeoutMs } : {}),
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    exposeHeadRoutes: false,
    ajv: { customOptions: { removeAdditional: false, ...(opts.coerceTypes === false ? { coerceTypes: false } : {}) } },
    frameworkErrors: (err, request, reply) => sendError(err, request as FastifyRequest, reply as FastifyReply),
    clientErrorHandler: (err, socket) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(clientErrorAnswer(err));
      socket.destroy();
    },
  });
  if (opts.maxConnections !== undefined) app.server.maxConnections = opts.maxConnections;
  if (opts.perSource) boundConnectionsPerSource(app, opts.perSource.connections);
  if (opts.perPeer) boundConnectionsPerPeer(app, opts.perPeer.connections, opts.perPeer.key);

  app.setErrorHandler(sendError);
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new P2pfxError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
  });
  // Node answers an Expect other than 100-continue with a bare 417.
  app.server.on('checkExpectation', (_request: unknown, response: ServerResponse) => {
    const e = new P2pfxError('BAD_REQUEST', 'only "Expect: 100-continue" is supported');
    response.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(JSON.stringify(errorBody(e, withHint)));
  });
  if (opts.perSource) {
    const perMinute = opts.perSource.requestsPerMinute;
    await app.register(rateLimit, {
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => sourceKey(request.raw.socket.remoteAddress),
      // A bounded table (least recently seen dropped first): many sources cannot grow it.
      cache: 10_000,
      errorResponseBuilder: (_request, context) => new P2pfxError('RATE_LIMITED', `more than ${perMinute} requests a minute from this address; try again in ${Math.ceil(context.ttl / 1000)} s`),
    });
  }
  const notFound = (request: FastifyRequest, reply: FastifyReply): void => {
    const e = new P2pfxError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}${opts.notFoundHint ? `; ${opts.notFoundHint}` : ''}`);
    void reply.status(404).send(errorBody(e, withHint));
  };
  // A request for no route counts against its source too.
  if (opts.perSource) app.setNotFoundHandler({ preHandler: app.rateLimit() }, notFound);
  else app.setNotFoundHandler(notFound);
  return app;
}

/** Closes a source's connection past `max` open at once, before TLS or HTTP reads a byte of it. */
function boundConnectionsPerSource(app: FastifyInstance, max: number): void {
  const bound = openBound(max);
  app.server.on('connection', (socket: Socket) => bound(sourceKey(socket.remoteAddress), socket));
}

/** Closes a peer's connection past `max` open at once, once its certificate says who it is. */
function boundConnectionsPerPeer(app: FastifyInstance, max: number, key: (socket: TLSSocket) => string | null): void {
  const bound = openBound(max);
  app.server.on('secureConnection', (socket: TLSSocket) => {
    const peer = key(socket);
    if (peer !== null) bound(peer, socket);
  });
}

/** Counts the sockets open per key; one past `max` is destroyed at once. */
function openBound(max: number): (key: string, socket: Socket) => void {
  const open = new Map<string, number>();
  return (key, socket) => {
    const count = open.get(key) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left === 0) open.delete(key);
      else open.set(key, left);
    });
  };
}

/**
 * What one source is, for the bounds: an IPv4 address (also written as ::ffff:a.b.c.d), or the
 * /64 network of an IPv6 address (one machine can hold a whole /64 of addresses).
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return '?';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!;
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An IPv4 address at the end (::ffff:0:1.2.3.4) stands for two groups.
  const rightGroups = right.length + (right.at(-1)?.includes('.') ? 1 : 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - rightGroups)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}
