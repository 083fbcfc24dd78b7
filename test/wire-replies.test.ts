// A peer's JSON replies are checked against the protocol's schemas (net/protocol/: identity, chunks, manifests, crl):
// a member of the network that answers the wrong shape gets PEER_ERROR naming the request and
// what is wrong, never a value cast and trusted. The peer here is a real HTTPS server with a
// certificate of the network's own CA, on 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { PeerClient } from '../src/net/client.js';
import { makeNetwork, type TestNode } from './helpers/network.js';

/** A peer with a network certificate that answers every request with `body` (JSON), status 200. */
async function lyingPeer(t: TestContext, as: TestNode, body: unknown): Promise<number> {
  const { creds } = as.node;
  const server = createHttpsServer({ key: creds.keyPem, cert: creds.certPem, ca: creds.caCertPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

const CASES: Array<[string, unknown, (c: PeerClient) => Promise<unknown>, RegExp]> = [
  ['health without its node id', { status: 'ok', version: '1', name: 'x', chunks: 1 }, (c) => c.health(), /GET \/v1\/health \(its health\) with a reply of the wrong shape: \/ must have required property 'nodeId'/],
  ['health with a negative chunk count', { status: 'ok', version: '1', nodeId: 'N', name: 'x', chunks: -3 }, (c) => c.health(), /\/chunks must be >= 0/],
  ['identity whose key is a number', { nodeId: 'N', name: 'x', x25519: 42, apiVersion: 1 }, (c) => c.identity(), /GET \/v1\/identity \(its identity\) .*\/x25519 must be string/],
  ['missing chunks that are not chunk ids', { missing: ['../../etc/passwd'] }, (c) => c.missing(['a'.repeat(64)]), /POST \/v1\/chunks\/missing .*\/missing\/0 must match pattern/],
  ['a chunk list that is not a list', { chunks: 'all of them', next: null }, (c) => c.listChunks(), /\/chunks must be array/],
  ['a catalog that is not a list', { manifests: 'all of them' }, (c) => c.listManifests(), /GET \/v1\/manifests \(its catalog\) .*\/manifests must be array/],
  ['a catalog without its manifests', { files: [] }, (c) => c.listManifests(), /must have required property 'manifests'/],
  ['a CRL offered, answered with a number that is not one', { taken: true, number: 7 }, (c) => c.putCrl('-----BEGIN X509 CRL-----'), /PUT \/v1\/crl \(a CRL offered\) .*\/number must be string/],
  ['a manifest stored with an outcome we do not know', { created: true, outcome: 'eaten' }, (c) => c.putManifest({ fileId: 'f'.repeat(32) } as never), /PUT \/v1\/manifests\/f{32} \(a manifest stored\) .*\/outcome must be equal to one of the allowed values/],
];

test('a peer answering the wrong shape: PEER_ERROR naming the request and the first fault, for every JSON reply the client reads', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const liar = await net.add('liar', { serve: false });
  for (const [what, body, call, message] of CASES) {
    await t.test(what, async (t) => {
      const port = await lyingPeer(t, liar, body);
      const client = new PeerClient({ host: '127.0.0.1', port }, a.node.creds, { connectTimeoutMs: 10_000, idleTimeoutMs: 10_000 });
      t.after(() => client.close());
      await assert.rejects(call(client), (err: { code?: string; message?: string }) => {
        assert.equal(err.code, 'PEER_ERROR', String(err.message));
        assert.match(String(err.message), message);
        return true;
      });
    });
  }
});
