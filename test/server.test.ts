// The REST API over real mTLS on 127.0.0.1, and its routes through fastify.inject.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { DEFAULT_CIPHERS, connect as tlsConnect } from 'node:tls';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { issueNodeCert } from '../src/pki/ca.js';
import { PeerClient } from '../src/net/client.js';
import { createNodeServer } from '../src/net/server.js';
import { tlsContextOptions } from '../src/net/tls.js';
import { MAX_BLOB_BYTES } from '../src/core/limits.js';
import { makeNetwork } from './helpers/network.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

test('a client without a certificate is refused during the TLS handshake', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b');
  const err = await new Promise<Error>((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port: b.server!.port, path: '/v1/health', ca: net.ca.certPem, checkServerIdentity: () => undefined }, (res) => {
      res.resume();
      resolve(new Error(`unexpected HTTP ${res.statusCode}`));
    });
    req.on('error', resolve);
    req.end();
  });
  assert.match(`${(err as NodeJS.ErrnoException).code} ${err.message}`, /CERTIFICATE_REQUIRED|certificate required|socket hang up|ECONNRESET/i);
});

test('a client with a certificate from another CA is refused, and PeerClient says CERT_REJECTED', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b');
  const otherNet = await makeNetwork(t);
  const stranger = await otherNet.add('stranger', { serve: false });
  // The stranger trusts our CA for the server side, so only the server can refuse it.
  const creds = { ...stranger.node.creds, caCertPem: net.ca.certPem };
  const { PeerClient } = await import('../src/net/client.js');
  const client = new PeerClient({ host: '127.0.0.1', port: b.server!.port }, creds);
  t.after(() => client.close());
  await assert.rejects(client.health(), (err: { code: string; message: string }) => {
    assert.equal(err.code, 'CERT_REJECTED');
    assert.match(err.message, /refuses this node's certificate/);
    return true;
  });
  // And a stranger that trusts only its own CA refuses our server.
  const client2 = stranger.client(b);
  await assert.rejects(client2.health(), (err: { code: string; message: string }) => {
    assert.equal(err.code, 'CERT_REJECTED');
    assert.match(err.message, /not valid for this network/);
    return true;
  });
});

test('a client of the network is served: health and identity name the node', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('a');
  const b = await net.add('b');
  const client = a.client(b);
  const health = await client.health();
  assert.equal(health.status, 'ok');
  assert.equal(health.nodeId, b.node.creds.nodeId);
  assert.equal(client.nodeId, b.node.creds.nodeId, 'the node id seen in the TLS handshake');
  const id = await client.identity();
  assert.equal(id.apiVersion, 1);
  assert.equal(Buffer.from(id.x25519, 'base64').length, 32);
});

test('chunks: PUT keeps a chunk only if its hash is its id; HEAD, GET, missing, list', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('a');
  const b = await net.add('b');
  const client = a.client(b);
  const blob = randomBytes(1000);
  const id = sha(blob);
  assert.deepEqual(await client.missing([id]), [id]);
  assert.equal((await client.putChunk(id, blob)).created, true);
  assert.equal((await client.putChunk(id, blob)).created, false, 'the second PUT is a no-op');
  assert.deepEqual(await client.missing([id]), []);
  assert.deepEqual(await client.getChunk(id), blob);
  assert.deepEqual((await client.listChunks()).chunks, [{ id, size: 1000 }]);

  const other = randomBytes(1000);
  const wrongId = sha(randomBytes(8));
  await assert.rejects(client.putChunk(wrongId, other), { code: 'HASH_MISMATCH' });
  assert.equal(await b.node.store.has(wrongId), false);
  const files = await walk(b.home.chunksDir);
  assert.deepEqual(files.map((f) => f.slice(b.home.chunksDir.length)), [`/${id.slice(0, 2)}/${id}`], 'no temporary file left behind');

  await assert.rejects(client.getChunk(sha(Buffer.from('absent'))), { code: 'CHUNK_NOT_FOUND' });
});

test('routes refuse bad ids, traversal, oversized and mistyped bodies with stable codes', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b', { serve: false });
  const app = await createNodeServer({ credentials: b.node.creds, store: b.node.store, db: b.node.db });
  t.after(() => app.close());
  const cases: Array<[string, string, number, string]> = [
    ['GET', '/v1/chunks/..%2f..%2fcerts%2fnode-key.pem', 400, 'INVALID_ID'],
    ['GET', '/v1/chunks/%2e%2e', 404, 'NOT_FOUND'], // normalized to /v1/: no such route
    ['GET', `/v1/chunks/${'A'.repeat(64)}`, 400, 'INVALID_ID'],
    ['PUT', '/v1/chunks/..%2F..%2Fevil', 400, 'INVALID_ID'],
    ['GET', '/v1/manifests/..%2fp2pfx.db', 400, 'INVALID_ID'],
    ['GET', `/v1/manifests/${'0'.repeat(32)}`, 404, 'MANIFEST_NOT_FOUND'],
    ['GET', '/v1/nothing', 404, 'NOT_FOUND'],
  ];
  for (const [method, url, status, code] of cases) {
    const res = await app.inject({ method: method as 'GET', url, ...(method === 'PUT' ? { payload: Buffer.alloc(10), headers: { 'content-type': 'application/octet-stream' } } : {}) });
    assert.equal(res.statusCode, status, `${method} ${url}`);
    assert.equal(res.json().error.code, code, `${method} ${url}`);
  }
  const id = sha(Buffer.from('x'));
  const tooBig = await app.inject({ method: 'PUT', url: `/v1/chunks/${id}`, headers: { 'content-type': 'application/octet-stream', 'content-length': String(MAX_BLOB_BYTES + 1) }, payload: Buffer.alloc(16) });
  assert.equal(tooBig.statusCode, 413);
  assert.equal(tooBig.json().error.code, 'CHUNK_TOO_LARGE');
  const asJson = await app.inject({ method: 'PUT', url: `/v1/chunks/${id}`, payload: { a: 1 } });
  assert.equal(asJson.statusCode, 415);
  assert.equal(asJson.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const badMissing = await app.inject({ method: 'POST', url: '/v1/chunks/missing', payload: { ids: ['../x'] } });
  assert.equal(badMissing.statusCode, 400);
  assert.equal(badMissing.json().error.code, 'BAD_REQUEST');
  const badManifest = await app.inject({ method: 'PUT', url: `/v1/manifests/${'0'.repeat(32)}`, payload: { version: 1 } });
  assert.equal(badManifest.statusCode, 400);
  assert.equal(badManifest.json().error.code, 'BAD_MANIFEST');
  const files = await walk(b.home.root);
  assert.ok(files.every((f) => f.startsWith(b.home.root)), 'nothing outside the home');
  assert.deepEqual(await b.node.store.list(), [], 'nothing stored');
});

test('a chunk body over the cap is cut off while streaming, nothing kept', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('a');
  const b = await net.add('b');
  const dispatcher = new Agent({ connect: { ca: net.ca.certPem, cert: a.node.creds.certPem, key: a.node.creds.keyPem, checkServerIdentity: () => undefined } });
  t.after(() => dispatcher.close());
  const big = Buffer.alloc(MAX_BLOB_BYTES + 1024);
  // No content-length: a chunked body, so the server must count as it streams.
  async function* body() { for (let i = 0; i < big.length; i += 1 << 20) yield big.subarray(i, i + (1 << 20)); }
  const res = await request(`https://127.0.0.1:${b.server!.port}/v1/chunks/${sha(big)}`, { method: 'PUT', dispatcher, body: Readable.from(body()), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(res.statusCode, 413);
  assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'CHUNK_TOO_LARGE');
  assert.deepEqual(await b.node.store.list(), []);
  assert.deepEqual(await readdir(join(b.home.chunksDir, '.tmp')), []);
});

test('the OpenAPI description is served at /docs and /openapi.json', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b', { serve: false });
  const app = await createNodeServer({ credentials: b.node.creds, store: b.node.store, db: b.node.db });
  t.after(() => app.close());
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.ok(spec.paths['/v1/chunks/{id}'].put, 'chunk PUT documented');
  assert.ok(spec.paths['/v1/manifests/{fileId}'].get);
  const docs = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(docs.statusCode, 200);
  assert.match(String(docs.headers['content-type']), /^text\/html/);
  // Every documented operation is on the page, from the same description.
  for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(methods)) assert.match(docs.body, new RegExp(`<b>${method.toUpperCase()}</b></td><td><code>${path.replace(/[{}]/g, '\\$&')}</code>`), `${method} ${path} on /docs`);
  }
  assert.doesNotMatch(docs.body, /<script/i, 'no script on the page');
});

test('a node certificate without clientAuth cannot be used as a client (one with it can)', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b');
  const url = `https://127.0.0.1:${b.server!.port}/v1/health`;
  const agentFor = (cert: { certPem: string; keyPem: string }) => {
    const dispatcher = new Agent({ connect: { ca: net.ca.certPem, cert: cert.certPem, key: cert.keyPem, checkServerIdentity: () => undefined } });
    t.after(() => dispatcher.close());
    return dispatcher;
  };
  const serverOnly = await issueNodeCert(net.ca, { name: 'srv', clientAuth: false, ips: ['127.0.0.1'] });
  await assert.rejects(request(url, { dispatcher: agentFor(serverOnly) }), (err: { code?: string }) => {
    assert.match(String(err.code), /UND_ERR_SOCKET|ECONNRESET|ERR_SSL/);
    return true;
  });
  const both = await issueNodeCert(net.ca, { name: 'both', ips: ['127.0.0.1'] });
  const ok = await request(url, { dispatcher: agentFor(both) });
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
});

test('the transport is TLS 1.3 with the suites we prefer; a TLS 1.2 client is refused', { timeout: 20_000 }, async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('a', { serve: false });
  const b = await net.add('b');
  const opts = { ...tlsContextOptions(a.node.creds), host: '127.0.0.1', port: b.server!.port, checkServerIdentity: () => undefined };
  // Sockets are ended here, before the server's own teardown waits for its connections.
  const socket = tlsConnect(opts);
  try {
    await once(socket, 'secureConnect');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(socket.getCipher().name, 'TLS_AES_128_GCM_SHA256');
  } finally {
    socket.destroy();
  }
  const old = tlsConnect({ ...opts, ciphers: DEFAULT_CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  try {
    const [err] = (await once(old, 'error')) as [NodeJS.ErrnoException];
    assert.match(String(err.code), /ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE)/);
  } finally {
    old.destroy();
  }
});

test('one peer holding many connections cannot take them from the others: past its bound, its new connections close after the handshake; another peer\'s transfer goes through', async (t) => {
  const net = await makeNetwork(t);
  const b = await net.add('b', { serve: false });
  const a = await net.add('a', { serve: false });
  const flooder = await net.add('flooder', { serve: false });
  const app = await createNodeServer({ credentials: b.node.creds, store: b.node.store, db: b.node.db, peerConnections: 4 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const held: Array<ReturnType<typeof tlsConnect>> = [];
  t.after(async () => {
    for (const s of held) s.destroy();
    await app.close();
  });

  // The flooder opens 12 connections and says nothing on them.
  const outcomes = await Promise.all(Array.from({ length: 12 }, () => new Promise<'held' | 'closed'>((resolve) => {
    const socket = tlsConnect({ ...tlsContextOptions(flooder.node.creds), host: '127.0.0.1', port, checkServerIdentity: () => undefined });
    held.push(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => resolve('closed'));
    // Held: the handshake is done and a request on it is answered (the server kept it).
    socket.once('secureConnect', () => socket.write('GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n'));
    socket.once('data', () => resolve('held'));
  })));
  assert.equal(outcomes.filter((o) => o === 'held').length, 4, `the flooder keeps its 4: ${outcomes.join(', ')}`);
  assert.equal(outcomes.filter((o) => o === 'closed').length, 8);

  // While the flooder holds its 4, another peer stores and reads a chunk as usual.
  const client = new PeerClient({ host: '127.0.0.1', port }, a.node.creds);
  t.after(() => client.close());
  const blob = randomBytes(5000);
  const id = sha(blob);
  assert.equal((await client.putChunk(id, blob)).created, true);
  assert.deepEqual(await client.getChunk(id), blob);
});
