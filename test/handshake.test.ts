// Who gets in: for every route of the node API — read from the server's own route table — a
// client without a certificate, with one from another CA, an expired one, a revoked one, a
// serverAuth-only one, or speaking TLS 1.2 is refused during the TLS handshake: it gets no byte
// of HTTP back, and the server never counts a secure connection or a request for it. The p2pfx
// client (PeerClient) in each of those shoes reports a code a user can act on; and it refuses
// servers that present such certificates. Real servers on 127.0.0.1.
//
// "During the handshake" in Node terms: OpenSSL refuses a missing certificate or an old protocol
// itself; for a certificate that does not verify (foreign, expired, revoked, wrong purpose) Node's
// TLS layer destroys the socket as the handshake ends, before 'secureConnection' — so before the
// HTTP server ever sees the connection. In TLS 1.3 the client has finished its side by then and
// may already have written its request: it must still get nothing back.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, DEFAULT_CIPHERS, type ConnectionOptions } from 'node:tls';
import { test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { P2pfxError } from '../src/core/errors.js';
import { PeerClient } from '../src/net/client.js';
import { createCa, issueNodeCert, type CertAndKey } from '../src/pki/ca.js';
import { readCertPem } from '../src/pki/cert-pem.js';
import { createCrl } from '../src/pki/crl.js';
import type { Credentials } from '../src/store/credentials.js';
import { makeNetwork, type TestNetwork, type TestNode } from './helpers/network.js';

const DAY_MS = 86_400_000;
const ATTEMPT_TIMEOUT_MS = 5000;
const SAMPLE = { id: 'ab'.repeat(32), fileId: 'cd'.repeat(16) };

interface Route { method: string; path: string }

/**
 * Every (method, path) of the server's route table, from `app.printRoutes({ commonPrefix: false })`:
 * a tree whose lines are `<indent>├── <segment> (<METHODS>)`, 4 characters of indent per level, a
 * route's path being its ancestors' segments joined.
 */
function routeTable(app: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    stack.length = m[1]!.length / 4;
    stack.push(m[2]!);
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method, path: stack.join('') });
  }
  return routes;
}

/** A URL that the route matches: sample ids for parameters, a file name for a wildcard. */
function concrete(path: string): string {
  return path.replace(':id', SAMPLE.id).replace(':fileId', SAMPLE.fileId).replace('*', 'index.css');
}

interface Attempt {
  /** The client saw its side of the handshake complete. */
  clientSecure: boolean;
  /** Bytes of application data the client received. */
  received: Buffer;
  /** The client-side error code (or message), if any. */
  error: string | null;
}

/** One request on a fresh TLS connection, written as soon as the client's handshake completes. */
async function attempt(port: number, tls: ConnectionOptions, route: Route): Promise<Attempt> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', checkServerIdentity: () => undefined, ...tls });
  const pieces: Buffer[] = [];
  let clientSecure = false;
  let error: string | null = null;
  socket.once('secureConnect', () => {
    clientSecure = true;
    socket.write(`${route.method} ${concrete(route.path)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  socket.on('data', (piece: Buffer) => pieces.push(piece));
  socket.on('error', (err: NodeJS.ErrnoException) => {
    error ??= err.code ?? err.message;
  });
  const timer = setTimeout(() => {
    error ??= 'TIMEOUT';
    socket.destroy();
  }, ATTEMPT_TIMEOUT_MS);
  // Not events.once: it would reject on the 'error' that a refused handshake brings.
  await new Promise((resolve) => socket.once('close', resolve));
  clearTimeout(timer);
  return { clientSecure, received: Buffer.concat(pieces), error };
}

/** What the node's HTTPS server saw: raw TCP connections, secure connections, HTTP requests. */
function countServerEvents(app: FastifyInstance): { connection: number; secureConnection: number; request: number } {
  const counts = { connection: 0, secureConnection: 0, request: 0 };
  for (const event of Object.keys(counts) as Array<keyof typeof counts>) app.server.on(event, () => counts[event]++);
  return counts;
}

interface BadClient {
  name: string;
  /** Options of a raw TLS client (it trusts the network CA, so only the server can refuse). */
  tls: ConnectionOptions;
  /** The client-side error a raw client sees, where it is always the same. */
  rawError?: RegExp;
}

/** A network with a serving node b, the CRL b holds (revoking gamma), and a client of each kind. */
async function setUp(t: TestContext): Promise<{ net: TestNetwork; a: TestNode; b: TestNode; gamma: TestNode; bad: BadClient[]; certs: Record<string, CertAndKey> }> {
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  const b = await net.add('beta');
  const gamma = await net.add('gamma', { serve: false });
  const crl = await createCrl(net.ca, { number: 2, revoked: [{ serialHex: readCertPem(gamma.node.creds.certPem).serialNumber, revokedAt: new Date() }] });
  assert.equal(await b.node.revocation.take(crl), true);
  assert.equal(await gamma.node.revocation.take(crl), true);

  const foreignCa = await createCa({ commonName: 'p2pfx network CA' }); // same name, other key
  const certs = {
    foreign: await issueNodeCert(foreignCa, { name: 'stranger', ips: ['127.0.0.1'] }),
    expired: await issueNodeCert(net.ca, { name: 'expired', ips: ['127.0.0.1'], now: new Date(Date.now() - 10 * DAY_MS), validityDays: 1 }),
    serverOnly: await issueNodeCert(net.ca, { name: 'server-only', ips: ['127.0.0.1'], clientAuth: false }),
  };
  const ca = net.ca.certPem;
  const mine = (c: { certPem: string; keyPem: string }): ConnectionOptions => ({ ca, cert: c.certPem, key: c.keyPem });
  const bad: BadClient[] = [
    { name: 'no certificate', tls: { ca }, rawError: /CERTIFICATE_REQUIRED/ },
    { name: 'a certificate from another CA', tls: mine(certs.foreign) },
    { name: 'an expired certificate', tls: mine(certs.expired) },
    { name: 'a revoked certificate', tls: mine(gamma.node.creds) },
    { name: 'a serverAuth-only certificate', tls: mine(certs.serverOnly) },
    {
      name: 'TLS 1.2 (with a valid certificate)',
      tls: { ...mine(a.node.creds), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: DEFAULT_CIPHERS },
      rawError: /ALERT_PROTOCOL_VERSION/,
    },
  ];
  return { net, a, b, gamma, bad, certs };
}

test('every route of the node API refuses, during the handshake, clients without a valid current client certificate or on TLS 1.2', { timeout: 120_000 }, async (t) => {
  const { net, a, b, bad } = await setUp(t);
  const app = b.server!.app;
  const port = b.server!.port;
  const routes = routeTable(app);

  // The table is the server's whole API: what DESIGN lists, the OpenAPI description (fetched
  // here by a client of the network), the hidden /openapi.json and the /docs pages.
  const key = (r: Route) => `${r.method} ${r.path}`;
  const listed = new Set(routes.map(key));
  for (const must of ['GET /v1/health', 'GET /v1/identity', 'PUT /v1/chunks/:id', 'GET /v1/chunks/:id', 'HEAD /v1/chunks/:id', 'POST /v1/chunks/missing',
    'GET /v1/chunks', 'PUT /v1/manifests/:fileId', 'GET /v1/manifests', 'GET /v1/manifests/:fileId', 'GET /v1/crl', 'PUT /v1/crl', 'POST /v1/peers/hello', 'GET /openapi.json', 'GET /docs']) {
    assert.ok(listed.has(must), `${must} in the route table:\n${app.printRoutes({ commonPrefix: false })}`);
  }
  const dispatcher = new Agent({ connect: { ca: net.ca.certPem, cert: a.node.creds.certPem, key: a.node.creds.keyPem, checkServerIdentity: () => undefined } });
  let spec: { paths: Record<string, Record<string, unknown>> };
  try {
    const res = await request(`https://127.0.0.1:${port}/openapi.json`, { dispatcher });
    assert.equal(res.statusCode, 200);
    spec = (await res.body.json()) as typeof spec;
  } finally {
    await dispatcher.close(); // its keep-alive connection is not counted below
  }
  const documented = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => ({ method: m.toUpperCase(), path: path.replace(/\{(\w+)\}/g, ':$1') })));
  assert.ok(documented.length >= 10, `${documented.length} documented operations`);
  for (const r of documented) assert.ok(listed.has(key(r)), `documented ${key(r)} is in the route table`);

  const seen = countServerEvents(app);
  // Control: a client of the network gets an HTTP answer from every route (never a 5xx).
  const good: ConnectionOptions = { ca: net.ca.certPem, cert: a.node.creds.certPem, key: a.node.creds.keyPem };
  for (const route of routes) {
    const r = await attempt(port, good, route);
    const head = r.received.toString('latin1').split('\r\n')[0] ?? '';
    assert.match(head, /^HTTP\/1\.1 [1-4]\d\d /, `${key(route)} for a network member: ${head || r.error}`);
  }
  assert.deepEqual(seen, { connection: routes.length, secureConnection: routes.length, request: routes.length });

  for (const client of bad) {
    const before = { ...seen };
    for (const route of routes) {
      const r = await attempt(port, client.tls, route);
      const what = `${client.name}, ${key(route)}`;
      assert.equal(r.received.length, 0, `${what}: got ${JSON.stringify(r.received.toString('latin1').slice(0, 80))}`);
      assert.notEqual(r.error, 'TIMEOUT', `${what}: the server neither answered nor closed`);
      if (client.rawError) assert.match(String(r.error), client.rawError, what);
      if (client.name.startsWith('TLS 1.2')) assert.equal(r.clientSecure, false, `${what}: no TLS 1.2 handshake completes`);
    }
    await sleep(20);
    assert.deepEqual(
      { connection: seen.connection - before.connection, secureConnection: seen.secureConnection - before.secureConnection, request: seen.request - before.request },
      { connection: routes.length, secureConnection: 0, request: 0 },
      `${client.name}: the server saw each connection, and never a secure connection or a request`,
    );
  }
  // The node still serves its members.
  const after = await attempt(port, good, { method: 'GET', path: '/v1/health' });
  assert.match(after.received.toString('latin1'), /^HTTP\/1\.1 200 /);
});

async function refused(client: PeerClient, code: string, message: RegExp): Promise<void> {
  await assert.rejects(client.health(), (err: unknown) => {
    assert.ok(err instanceof P2pfxError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    assert.ok(err.message.includes(client.label), `the message names the peer: ${err.message}`);
    return true;
  });
}

test('PeerClient with such a certificate says CERT_REJECTED (CERT_REVOKED once it holds the CRL naming it), and TLS 1.2 is named', { timeout: 60_000 }, async (t) => {
  const { a, b, gamma, certs } = await setUp(t);
  const at = { host: '127.0.0.1', port: b.server!.port };
  const client = (creds: Credentials, opts: ConstructorParameters<typeof PeerClient>[2] = {}) => {
    const c = new PeerClient(at, creds, { connectTimeoutMs: 5000, idleTimeoutMs: 5000, ...opts });
    t.after(() => c.close());
    return c;
  };
  const base = a.node.creds;
  const refusesOurs = /refuses this node's certificate/;
  await refused(client({ ...base, certPem: '', keyPem: '' }), 'CERT_REJECTED', refusesOurs);
  await refused(client({ ...base, ...certs.foreign }), 'CERT_REJECTED', refusesOurs);
  await refused(client({ ...base, ...certs.expired }), 'CERT_REJECTED', refusesOurs);
  await refused(client({ ...base, ...certs.serverOnly }), 'CERT_REJECTED', refusesOurs);
  // The revoked node: refused like the others while it does not know; told plainly once it holds the CRL.
  await refused(client({ ...gamma.node.creds }), 'CERT_REJECTED', refusesOurs);
  await refused(client(gamma.node.creds, { revocation: gamma.node.revocation }), 'CERT_REVOKED', /this node's certificate was revoked by the network CA/);
  // The member itself is served.
  assert.equal((await client(base).health()).nodeId, b.node.creds.nodeId);

  // TLS 1.2: a p2pfx client speaks TLS 1.3 only; a server offering at most 1.2 (with a valid
  // certificate of the network) is refused in the handshake and named as such.
  const old = await tls12Server(t, b.node.creds);
  const toOld = new PeerClient({ host: '127.0.0.1', port: old }, base, { connectTimeoutMs: 5000, idleTimeoutMs: 5000 });
  t.after(() => toOld.close());
  await refused(toOld, 'CERT_REJECTED', /does not speak TLS 1\.3/);
});

test('PeerClient refuses servers that present a foreign, expired, revoked or clientAuth-only certificate', { timeout: 60_000 }, async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  const revokedNode = await net.add('revoked', { serve: false });
  await a.node.revocation.take(await createCrl(net.ca, { number: 2, revoked: [{ serialHex: readCertPem(revokedNode.node.creds.certPem).serialNumber, revokedAt: new Date() }] }));
  const servers: Array<[string, CertAndKey, string, RegExp]> = [
    ['another CA', await issueNodeCert(await createCa(), { name: 'stranger', ips: ['127.0.0.1'] }), 'CERT_REJECTED', /not valid for this network/],
    ['expired', await issueNodeCert(net.ca, { name: 'expired', ips: ['127.0.0.1'], now: new Date(Date.now() - 10 * DAY_MS), validityDays: 1 }), 'CERT_REJECTED', /not valid for this network \(CERT_HAS_EXPIRED\)/],
    ['clientAuth only', await issueNodeCert(net.ca, { name: 'client-only', ips: ['127.0.0.1'], serverAuth: false }), 'CERT_REJECTED', /not valid for this network \(INVALID_PURPOSE\)/],
    ['revoked', { certPem: revokedNode.node.creds.certPem, keyPem: revokedNode.node.creds.keyPem }, 'CERT_REVOKED', /presents a certificate the network CA has revoked/],
  ];
  for (const [name, cert, code, message] of servers) {
    const port = await listen(t, createHttpsServer({ key: cert.keyPem, cert: cert.certPem, minVersion: 'TLSv1.3' }, (_req, res) => res.end('{}')));
    const c = new PeerClient({ host: '127.0.0.1', port }, a.node.creds, { revocation: a.node.revocation, connectTimeoutMs: 5000, idleTimeoutMs: 5000 });
    t.after(() => c.close());
    await t.test(name, () => refused(c, code, message));
  }
});

/** An HTTPS server with a valid certificate of the network that speaks TLS 1.2 at most. */
async function tls12Server(t: TestContext, creds: Credentials): Promise<number> {
  return listen(t, createHttpsServer({ key: creds.keyPem, cert: creds.certPem, ca: creds.caCertPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, (_req, res) => res.end('{}')));
}

async function listen(t: TestContext, server: HttpsServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}
