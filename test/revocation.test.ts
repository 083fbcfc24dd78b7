// Revocation between real nodes: a CRL signed by the network CA spreads from node to node by
// its number; every node holding it refuses the revoked certificate during the TLS handshake.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { P2pfxError } from '../src/core/errors.js';
import { createCa } from '../src/pki/ca.js';
import { readCertPem } from '../src/pki/cert-pem.js';
import { createCrl } from '../src/pki/crl.js';
import { PeerClient } from '../src/net/client.js';
import { getFile } from '../src/transfer/get.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir, type TestNode } from './helpers/network.js';

const serialOf = (n: TestNode) => readCertPem(n.node.creds.certPem).serialNumber;

/** A client that takes and gives CRLs, as the CLI's are. */
function syncingClient(t: Parameters<typeof makeNetwork>[0], from: TestNode, to: TestNode): PeerClient {
  const c = new PeerClient({ host: to.server!.host, port: to.server!.port }, from.node.creds, { revocation: from.node.revocation });
  t.after(() => c.close());
  return c;
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: P2pfxError) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('a revoked node is refused in the handshake by every node that holds the new CRL, which spreads peer to peer', async (t) => {
  const net = await makeNetwork(t);
  const [alpha, beta, gamma, delta] = [await net.add('alpha'), await net.add('beta'), await net.add('gamma'), await net.add('delta')];
  const data = await tempDir(t);
  // Before the revocation gamma sends alpha a file: its manifest stays in alpha's catalog.
  const path = await randomFile(data, 'from-gamma.bin', 20_000);
  const sent = await sendFile({ node: gamma.node, client: gamma.client(alpha), path, chunkSize: 4096 });

  const crl = await createCrl(net.ca, { number: 2, revoked: [{ serialHex: serialOf(gamma), revokedAt: new Date() }] });
  assert.equal(await alpha.node.revocation.take(crl), true);
  assert.equal(await readFile(alpha.home.crlPath, 'utf8'), crl);

  // alpha refuses gamma; gamma, not knowing yet, gets the generic refusal.
  await rejects(gamma.client(alpha).health(), 'CERT_REJECTED', /refuses this node's certificate.*revoked/);
  // beta talks to alpha and takes its newer CRL on the way.
  const ba = syncingClient(t, beta, alpha);
  await ba.health();
  await ba.close();
  assert.equal(beta.node.revocation.number, 2n);
  assert.equal(await readFile(beta.home.crlPath, 'utf8'), crl);
  // beta's running server follows at once: gamma is refused there too.
  await rejects(gamma.client(beta).health(), 'CERT_REJECTED', /refuses this node's certificate/);
  // beta as a client refuses gamma's server certificate.
  await rejects(beta.client(gamma).health(), 'CERT_REVOKED', /presents a certificate the network CA has revoked/);
  // beta gives its CRL to delta, which had none.
  assert.equal(delta.node.revocation.number, 0n);
  const bd = syncingClient(t, beta, delta);
  await bd.health();
  await bd.close();
  assert.equal(delta.node.revocation.number, 2n);
  await rejects(gamma.client(delta).health(), 'CERT_REJECTED', /refuses/);
  // Once gamma holds the CRL itself, it says plainly that it was revoked.
  await gamma.node.revocation.take(crl);
  await rejects(syncingClient(t, gamma, alpha).health(), 'CERT_REVOKED', /this node's certificate was revoked by the network CA/);
  // Nodes not revoked still talk.
  assert.equal((await delta.client(alpha).health()).status, 'ok');
  // A manifest gamma signed before is refused by a node that knows of the revocation.
  await rejects(getFile({ node: beta.node, client: beta.client(alpha), ref: sent.fileId, outDir: data }), 'BAD_MANIFEST', /revoked/);
});

test('a CRL that is not from the network CA, or not newer, is not taken', async (t) => {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha');
  const beta = await net.add('beta');
  const current = await createCrl(net.ca, { number: 5, revoked: [] });
  await alpha.node.revocation.take(current);
  const c = beta.client(alpha);
  const foreign = await createCrl(await createCa(), { number: 9, revoked: [] });
  await rejects(c.putCrl(foreign), 'CRL_INVALID', /not by the network CA|signature/);
  await rejects(c.putCrl('not a CRL'), 'CRL_INVALID', /./);
  assert.deepEqual(await c.putCrl(await createCrl(net.ca, { number: 4, revoked: [] })), { taken: false, number: '5' });
  assert.equal(alpha.node.revocation.number, 5n);
  assert.equal(await readFile(alpha.home.crlPath, 'utf8'), current);
  assert.equal(await c.getCrl(), current);
  const newer = await createCrl(net.ca, { number: 6, revoked: [] });
  assert.deepEqual(await c.putCrl(newer), { taken: true, number: '6' });
  assert.equal(alpha.node.revocation.number, 6n);
});

test('connections opened before the revocation do not outlive it, on either side', async (t) => {
  const net = await makeNetwork(t);
  const beta = await net.add('beta');
  const gamma = await net.add('gamma');
  // Keep-alive connections both ways, made while gamma was still good.
  const fromGamma = gamma.client(beta);
  const toGamma = syncingClient(t, beta, gamma);
  assert.equal((await fromGamma.health()).status, 'ok');
  assert.equal((await toGamma.health()).status, 'ok');

  await beta.node.revocation.take(await createCrl(net.ca, { number: 2, revoked: [{ serialHex: serialOf(gamma), revokedAt: new Date() }] }));
  // beta's server cuts gamma's open connection at its next request…
  await rejects(fromGamma.health(), 'CERT_REJECTED', /refuses this node's certificate/);
  // …and beta's client does not reuse its connection (or TLS session) to gamma.
  await rejects(toGamma.health(), 'CERT_REVOKED', /presents a certificate the network CA has revoked/);
});

test('a CRL wrapped in extra PEM text is kept only as its checked DER, and the node keeps working', async (t) => {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha');
  const beta = await net.add('beta');
  const genuine = await createCrl(net.ca, { number: 2, revoked: [] });
  // A member passes the CA's genuine CRL on with a stray BEGIN line after it.
  const taken = await beta.client(alpha).putCrl(`${genuine}-----BEGIN X509 CRL-----\n`);
  assert.deepEqual(taken, { taken: true, number: '2' });
  assert.equal(await readFile(alpha.home.crlPath, 'utf8'), genuine, 'what is stored is the canonical encoding');
  // New handshakes still work both ways, and a restart would load the file.
  assert.equal((await beta.client(alpha).health()).status, 'ok');
  assert.equal((await alpha.client(beta).health()).status, 'ok');
  const { Revocation } = await import('../src/store/revocation.js');
  assert.equal((await Revocation.load(alpha.home, alpha.node.creds, alpha.node.db)).number, 2n);
});

test('CRLs taken at once never roll the number back', async (t) => {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha', { serve: false });
  const crls = await Promise.all([1, 3, 2].map((number) => createCrl(net.ca, { number, revoked: [] })));
  for (let round = 0; round < 5; round++) {
    await Promise.all(crls.map((pem) => alpha.node.revocation.take(pem)));
    assert.equal(alpha.node.revocation.number, 3n);
  }
  assert.equal(await readFile(alpha.home.crlPath, 'utf8'), crls[1]);
});
