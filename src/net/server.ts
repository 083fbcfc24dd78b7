// The node's REST API v1 (DESIGN "REST API v1") over HTTPS with mutual TLS.
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { P2pfxError } from '../core/errors.js';
import { collectEvery } from '../core/gc.js';
import { BufferRing } from '../core/buffer-ring.js';
import { BLOB_OVERHEAD_BYTES, DEFAULT_CHUNK_BYTES, MAX_BLOB_BYTES, MAX_CRL_BYTES, MAX_MANIFEST_BYTES, MAX_PAGE } from '../core/limits.js';
import type { Manifest } from '../core/manifest.js';
import { checkManifest } from '../pki/manifest-trust.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { Credentials } from '../store/credentials.js';
import type { IndexDb } from '../store/index-db.js';
import { VERSION } from '../version.js';
import { renderApiDocs } from './api-docs.js';
import { BulkStreams, type UploadActivity } from './bulk-server.js';
import { API_VERSION, ERROR_BODY } from './protocol/common.js';
import { BULK_STREAM_PATH, FRAMES_PROTOCOL, bulkQuery } from './protocol/bulk.js';
import { CHUNKS_PATH, CHUNK_ROUTE, CHUNK_TYPE, DEFAULT_PAGE, MISSING_PATH, chunkListQuery, chunkListReply, chunkParams, chunkPutReply, missingReply, missingRequest, type ChunkListQuery, type MissingRequest } from './protocol/chunks.js';
import { CRL_NUMBER_HEADER, CRL_PATH, PEM_TYPE, crlPutReply } from './protocol/crl.js';
import { HEALTH_PATH, IDENTITY_PATH, healthReply, identityReply } from './protocol/identity.js';
import { HELLO_PATH, helloReply, helloRequest } from './protocol/peers.js';
import { MANIFESTS_PATH, MANIFEST_ROUTE, catalogReply, fileIdParams, manifestBody, manifestPutReply } from './protocol/manifests.js';
import { serverTlsOptions } from './tls.js';
import { createHttpFront } from './http-front.js';
import { recordHello } from './hello.js';
import type { Revocation } from '../store/revocation.js';

/** A request (headers and body) must be done within this; a stalled peer is cut off. */
const REQUEST_TIMEOUT_MS = 120_000;
/** Overrides REQUEST_TIMEOUT_MS when createNodeServer is not given one (tests of stalled peers). */
export const REQUEST_TIMEOUT_ENV = 'P2PFX_REQUEST_TIMEOUT_MS';
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Connections one peer may hold at once: a pool of 8 and bulk streams per command, several commands (and `npm run load`, 64) at a time. */
const PEER_CONNECTIONS = 128;
/** Connections the node holds in all. */
const MAX_CONNECTIONS = 2048;

/** A peer, for the bounds: the SHA-256 of its certificate's public key (its node id, unformatted). */
function peerKey(socket: TLSSocket): string | null {
  const cert = socket.getPeerCertificate?.();
  return cert?.pubkey ? createHash('sha256').update(cert.pubkey).digest('hex') : null;
}

/** Read buffers kept for serving chunks: about the chunks a few peers have in flight. */
const SERVED_BUFFERS_KEPT = 16;


export interface NodeServerOptions {
  credentials: Credentials;
  store: ChunkStore;
  db: IndexDb;
  /** pino logger options, or false for none. */
  logger?: boolean | Record<string, unknown>;
  /** The node's CRL: served, announced in every answer, and replaced by a newer valid one. */
  revocation?: Revocation;
  /** Called after a new manifest is stored (a node reassembles files addressed to it). */
  onManifest?: (m: Manifest) => void;
  /** What peers' upload streams bring, as it lands (what `serve` shows). */
  onUpload?: (e: UploadActivity) => void;
  /**
   * A request's headers and body must all arrive within this (default 120 s, or
   * $P2PFX_REQUEST_TIMEOUT_MS): a peer that stalls mid-request (slowloris) is cut off.
   */
  requestTimeoutMs?: number;
  /** Connections one peer may hold at once (default PEER_CONNECTIONS; tests of the bound use fewer). */
  peerConnections?: number;
}

/** The request timeout: the option, else $P2PFX_REQUEST_TIMEOUT_MS, else 120 s. */
function requestTimeoutOf(opts: NodeServerOptions, env: NodeJS.ProcessEnv = process.env): number {
  const text = env[REQUEST_TIMEOUT_ENV];
  const ms = opts.requestTimeoutMs ?? (text === undefined || text === '' ? REQUEST_TIMEOUT_MS : Number(text));
  if (!Number.isInteger(ms) || ms < 100 || ms > 3_600_000) {
    const what = opts.requestTimeoutMs === undefined ? `$${REQUEST_TIMEOUT_ENV}` : 'the request timeout';
    throw new P2pfxError('INVALID_ARGUMENT', `${what} must be a whole number of milliseconds from 100 to 3600000, got ${JSON.stringify(opts.requestTimeoutMs ?? text)}`);
  }
  return ms;
}

const bulkOf = new WeakMap<FastifyInstance, BulkStreams>();

/** Bulk streams open and chunk commits under way on a node API (tests wait for 0 before counting chunks). */
export function bulkActivity(app: FastifyInstance): number {
  return bulkOf.get(app)?.busy ?? 0;
}

export async function createNodeServer(opts: NodeServerOptions): Promise<FastifyInstance> {
  const { credentials, store, db } = opts;
  const requestTimeout = requestTimeoutOf(opts);
  const app = await createHttpFront({
    https: serverTlsOptions(credentials),
    logger: opts.logger ?? false,
    bodyLimit: MAX_MANIFEST_BYTES,
    requestTimeoutMs: requestTimeout,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    // One member of the network cannot take every connection from the others: each peer (by its
    // certificate) holds at most PEER_CONNECTIONS at once, and the node MAX_CONNECTIONS in all.
    perPeer: { connections: opts.peerConnections ?? PEER_CONNECTIONS, key: peerKey },
    maxConnections: MAX_CONNECTIONS,
  });
  // Served chunks are read into reused buffers, given back once the response has gone out;
  // received ones leave socket buffers behind, collected every few chunks (core/gc.ts).
  const served = new BufferRing(DEFAULT_CHUNK_BYTES + BLOB_OVERHEAD_BYTES, SERVED_BUFFERS_KEPT);
  const lent = new WeakMap<object, Buffer>();
  const afterPut = collectEvery(8);
  app.addHook('onResponse', async (request) => {
    const buf = lent.get(request);
    if (buf) served.give(buf);
    else if (request.method === 'PUT' && request.url.startsWith(CHUNKS_PATH)) afterPut();
  });
  const revocation = opts.revocation ?? null;
  // A keep-alive connection made before a newer CRL was taken is not checked again by TLS:
  // each connection's certificate is checked here once per CRL number, and a revoked one cut.
  const checkedAt = new WeakMap<object, bigint>();
  const revokedPeer = (socket: TLSSocket): P2pfxError | null => {
    if (revocation === null || revocation.number === 0n || checkedAt.get(socket) === revocation.number) return null;
    const raw = socket.getPeerCertificate?.()?.raw;
    if (raw && revocation.revokes(new X509Certificate(raw).toString())) return new P2pfxError('CERT_REVOKED', 'this node\'s certificate is revoked');
    checkedAt.set(socket, revocation.number);
    return null;
  };
  const crlHeaders = (): Record<string, string> => (revocation && revocation.number > 0n ? { [CRL_NUMBER_HEADER]: revocation.number.toString() } : {});
  const bulk = new BulkStreams({
    store, idleTimeoutMs: requestTimeout, checkPeer: revokedPeer, headers: crlHeaders, afterChunk: afterPut,
    onInternal: (err) => app.log.error({ err }, 'bulk stream cut by an internal error'),
    ...(opts.onUpload ? { onUpload: opts.onUpload } : {}),
  });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => bulk.handle(req, socket, head));
  bulkOf.set(app, bulk);
  // Cut when the node stops (before it waits for its HTTP requests): they are no longer the server's.
  app.addHook('preClose', () => bulk.closeAll());
  if (revocation) {
    app.addHook('onRequest', async (request) => {
      const socket = request.raw.socket as TLSSocket;
      const refused = revokedPeer(socket);
      if (refused !== null) {
        socket.destroy();
        throw refused;
      }
    });
    app.addHook('onSend', async (_request, reply) => {
      if (revocation.number > 0n) void reply.header(CRL_NUMBER_HEADER, revocation.number.toString());
    });
  }
  // Chunk bodies stay streams: hashed while written to disk, never buffered whole.
  app.addContentTypeParser(CHUNK_TYPE, (_request, payload, done) => done(null, payload));
  app.addContentTypeParser(PEM_TYPE, { parseAs: 'string', bodyLimit: MAX_CRL_BYTES }, (_request, body, done) => done(null, body));

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'p2pfx node API', version: VERSION, description: 'REST API v1 of a p2pfx node. Every request needs a client certificate from the network CA (mutual TLS).' },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  let docsPage: string | undefined;
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) => {
    docsPage ??= renderApiDocs(app.swagger() as Parameters<typeof renderApiDocs>[0]);
    void reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    return reply.type('text/html; charset=utf-8').send(docsPage);
  });

  app.get(HEALTH_PATH, {
    schema: { summary: 'Status of the node', response: { 200: healthReply } },
  }, async () => ({ status: 'ok', version: VERSION, nodeId: credentials.nodeId, name: credentials.name, chunks: (await store.usage()).count }));

  app.get(IDENTITY_PATH, {
    schema: { summary: 'Who this node is', response: { 200: identityReply } },
  }, async () => ({ nodeId: credentials.nodeId, name: credentials.name, x25519: credentials.x25519.publicKey.toString('base64'), apiVersion: API_VERSION }));

  // A member says where it serves; recorded under its certificate's node id, at the connection's address.
  app.post<{ Body: unknown }>(HELLO_PATH, {
    schema: {
      summary: 'Tell this node where the caller serves: its name and API port; recorded in the peer book under the caller\'s certificate, at the address it connects from',
      body: helloRequest,
      response: { 200: helloReply, 400: ERROR_BODY },
    },
    // Checked by its generated validator in recordHello, without type coercion.
    validatorCompiler: () => () => true,
  }, async (request) => recordHello(request.raw.socket as TLSSocket, request.body, credentials.nodeId, db));

  app.put<{ Params: { id: string } }>(CHUNK_ROUTE, {
    schema: {
      summary: 'Store a chunk; kept only if the SHA-256 of the body equals the id',
      params: chunkParams,
      consumes: [CHUNK_TYPE],
      response: { 200: chunkPutReply, 201: chunkPutReply, 400: ERROR_BODY, 413: ERROR_BODY, 507: ERROR_BODY },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > MAX_BLOB_BYTES) throw new P2pfxError('CHUNK_TOO_LARGE', `chunk ${id} declares ${declared} bytes; the cap is ${MAX_BLOB_BYTES}`);
    const body = request.body as Readable | undefined;
    if (body !== undefined && typeof (body as Readable).pipe !== 'function') {
      throw new P2pfxError('UNSUPPORTED_MEDIA_TYPE', `chunk bodies must be ${CHUNK_TYPE}`);
    }
    const result = await store.putStream(id, body ?? [], MAX_BLOB_BYTES, Number.isSafeInteger(declared) ? declared : undefined);
    return reply.status(result.created ? 201 : 200).send({ id, ...result });
  });

  // Reached here only without the upgrade (the server's 'upgrade' listener takes those): described
  // for the API page, and told how to ask.
  app.get(BULK_STREAM_PATH, {
    schema: {
      summary: `A bulk stream of chunk frames (DESIGN "Bulk streams"): send "Connection: Upgrade" and "Upgrade: ${FRAMES_PROTOCOL}"; mode=upload sends chunks and gets each one's id back once stored, mode=fetch names chunks and gets them in order`,
      querystring: bulkQuery,
      response: { 426: ERROR_BODY },
    },
  }, async (_request, reply) => {
    void reply.header('upgrade', FRAMES_PROTOCOL).header('connection', 'Upgrade');
    return reply.status(426).send(new P2pfxError('UPGRADE_REQUIRED', `a bulk stream needs "Upgrade: ${FRAMES_PROTOCOL}"`).toJSON());
  });

  app.get<{ Params: { id: string } }>(CHUNK_ROUTE, {
    schema: { summary: 'Fetch a chunk (the blob, as stored)', params: chunkParams, produces: [CHUNK_TYPE], response: { 404: ERROR_BODY } },
  }, async (request, reply) => {
    // One read and one socket write per chunk: chunks are capped, and a stream of small reads
    // costs more per request than the memory of the chunks being served.
    const blob = await store.readInto(request.params.id, (size) => (size <= served.size ? served.take() : Buffer.allocUnsafeSlow(size)));
    if (blob.buffer.byteLength === served.size) lent.set(request, Buffer.from(blob.buffer as ArrayBuffer));
    return reply.header('content-length', blob.length).type(CHUNK_TYPE).send(blob);
  });
  app.head<{ Params: { id: string } }>(CHUNK_ROUTE, {
    schema: { summary: 'Whether a chunk is held, and its size', params: chunkParams },
  }, async (request, reply) => {
    const size = await store.size(request.params.id);
    if (size === null) throw new P2pfxError('CHUNK_NOT_FOUND', `chunk ${request.params.id} is not held here`);
    return reply.header('content-length', size).type(CHUNK_TYPE).send();
  });

  app.post<{ Body: MissingRequest }>(MISSING_PATH, {
    schema: {
      summary: 'Which of these chunks this node lacks',
      body: missingRequest,
      response: { 200: missingReply },
    },
  }, async (request) => ({ missing: await store.missing(request.body.ids) }));

  app.get<{ Querystring: ChunkListQuery }>(CHUNKS_PATH, {
    schema: {
      summary: 'A page of held chunks, in id order',
      querystring: chunkListQuery,
      response: { 200: chunkListReply },
    },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_PAGE;
    // The schema's type coercion lets "Infinity" through as a number.
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new P2pfxError('BAD_REQUEST', `querystring/limit must be a whole number from 1 to ${MAX_PAGE}`);
    const chunks = await store.list(request.query.after ?? '', limit);
    return { chunks, next: chunks.length === limit ? chunks[chunks.length - 1]!.id : null };
  });

  app.put<{ Params: { fileId: string }; Body: unknown }>(MANIFEST_ROUTE, {
    schema: {
      summary: 'Store a signed manifest in this node\'s catalog',
      params: fileIdParams,
      // The manifest's own schema, shown on the API page; the body is checked against it by
      // checkManifest (its generated validator, then the signature), which answers BAD_MANIFEST.
      body: manifestBody,
      response: { 200: manifestPutReply, 201: manifestPutReply, 400: ERROR_BODY },
    },
    validatorCompiler: () => () => true,
  }, async (request, reply) => {
    const m = await checkManifest(request.body, credentials.caCertPem, revocation?.current() ?? null);
    if (m.fileId !== request.params.fileId) throw new P2pfxError('BAD_MANIFEST', `manifest is for file ${m.fileId}, not ${request.params.fileId}`);
    const outcome = db.putManifest(m);
    if (outcome !== 'kept') opts.onManifest?.(m);
    return reply.status(outcome === 'created' ? 201 : 200).send({ fileId: m.fileId, created: outcome === 'created', outcome });
  });

  app.get(MANIFESTS_PATH, {
    schema: { summary: 'The catalog: every manifest held, without its chunk list', response: { 200: catalogReply } },
  }, async () => ({ manifests: db.listManifests().map(({ chunks: _chunks, ...rest }) => rest) }));

  app.get<{ Params: { fileId: string } }>(MANIFEST_ROUTE, {
    schema: { summary: 'One manifest, whole', params: fileIdParams, response: { 404: ERROR_BODY } },
  }, async (request, reply) => {
    const json = db.getManifestJson(request.params.fileId);
    if (json === null) throw new P2pfxError('MANIFEST_NOT_FOUND', `no manifest for file ${request.params.fileId}`);
    return reply.type('application/json').send(json);
  });

  app.get(CRL_PATH, {
    schema: { summary: 'The network CA\'s current certificate revocation list (PEM)', produces: [PEM_TYPE], response: { 404: ERROR_BODY } },
  }, async (_request, reply) => {
    const pem = revocation?.current()?.pem ?? credentials.crlPem;
    if (!pem) throw new P2pfxError('NOT_FOUND', 'this node holds no CRL');
    return reply.type(PEM_TYPE).send(pem);
  });

  app.put(CRL_PATH, {
    schema: {
      summary: 'Offer a newer CRL: kept only if signed by the network CA and newer than the one held',
      consumes: [PEM_TYPE],
      response: { 200: crlPutReply, 400: ERROR_BODY },
    },
  }, async (request) => {
    if (typeof request.body !== 'string') throw new P2pfxError('UNSUPPORTED_MEDIA_TYPE', `a CRL is sent as ${PEM_TYPE}`);
    if (!revocation) throw new P2pfxError('NOT_FOUND', 'this node does not take CRLs');
    const taken = await revocation.take(request.body);
    return { taken, number: revocation.number.toString() };
  });

  return app;
}
