// What a node lets into its catalog: a manifest PUT by a peer is stored only if its schema, its
// signature and its signer (a certificate of this network's CA, not revoked, naming its node id)
// all hold. Each refusal is a 400 BAD_MANIFEST saying which check failed, and stores nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { P2pfxError } from '../src/core/errors.js';
import { signManifest, type Manifest } from '../src/core/manifest.js';
import { createCa, issueNodeCert } from '../src/pki/ca.js';
import { readCertPem } from '../src/pki/cert-pem.js';
import { createCrl } from '../src/pki/crl.js';
import { nodeIdFromCertPem } from '../src/pki/node-id.js';
import { sendFile } from '../src/transfer/send.js';
import { makeNetwork, randomFile, tempDir } from './helpers/network.js';

/** The manifest's fields without its signature, to sign again as someone else. */
function unsigned(m: Manifest): Omit<Manifest, 'signature'> {
  const { signature: _signature, ...rest } = m;
  return rest;
}

test('a manifest is refused unless schema, signature and signer all hold; nothing is stored', async (t) => {
  const net = await makeNetwork(t);
  const alpha = await net.add('alpha');
  const beta = await net.add('beta');
  const gamma = await net.add('gamma');
  const data = await tempDir(t);
  const path = await randomFile(data, 'doc.bin', 9000);
  // A real, valid manifest (sent to gamma, whose catalog beta's is compared with).
  const { manifest } = await sendFile({ node: alpha.node, client: alpha.client(gamma), path, chunkSize: 4096 });
  const toBeta = alpha.client(beta);

  const foreignCa = await createCa({ commonName: 'another network' });
  const foreign = await issueNodeCert(foreignCa, { name: 'mallory' });
  const foreignSender = { nodeId: nodeIdFromCertPem(foreign.certPem), certPem: foreign.certPem };
  const later = (ms: number) => new Date(Date.parse(manifest.createdAt) + ms).toISOString();
  const cases: Array<[string, unknown, RegExp]> = [
    ['signed by a node of another CA', signManifest({ ...unsigned(manifest), sender: foreignSender, createdAt: later(1) }, foreign.keyPem), /not from this network's CA/],
    ['signed by a foreign key under a network certificate', signManifest({ ...unsigned(manifest), createdAt: later(2) }, foreign.keyPem), /signature does not verify/],
    ['tampered after signing', { ...manifest, chunkSize: manifest.chunkSize * 2 }, /signature does not verify|chunk/],
    ['naming another node id than its certificate', signManifest({ ...unsigned(manifest), sender: { ...manifest.sender, nodeId: beta.node.creds.nodeId }, createdAt: later(3) }, alpha.node.creds.keyPem), /node id does not match/],
    ['missing a field the schema requires', (() => { const { envelopes: _e, ...rest } = manifest; return rest; })(), /envelopes/],
    ['with a chunk listed twice', signManifest({ ...unsigned(manifest), chunks: manifest.chunks.map((c, i) => (i === 1 ? { ...manifest.chunks[0]!, index: 1 } : c)), createdAt: later(4) }, alpha.node.creds.keyPem), /./],
  ];
  for (const [what, body, message] of cases) {
    await assert.rejects(toBeta.putManifest(body as Manifest), (err: P2pfxError) => {
      assert.equal(err.code, 'BAD_MANIFEST', `${what}: ${err.message}`);
      assert.match(err.message, message, what);
      return true;
    }, what);
  }
  assert.deepEqual(beta.node.db.listManifests(), [], 'nothing entered the catalog');

  // The valid one is taken; once its signer is revoked, a node holding the CRL refuses it.
  assert.equal((await toBeta.putManifest(manifest)).outcome, 'created');
  await gamma.node.revocation.take(await createCrl(net.ca, { number: 2, revoked: [{ serialHex: readCertPem(alpha.node.creds.certPem).serialNumber, revokedAt: new Date() }] }));
  const relay = beta.client(gamma);
  const again = signManifest({ ...unsigned(manifest), createdAt: later(10) }, alpha.node.creds.keyPem);
  await assert.rejects(relay.putManifest(again), (err: P2pfxError) => err.code === 'BAD_MANIFEST' && /revoked/.test(err.message));
  assert.equal(gamma.node.db.getManifest(manifest.fileId)?.createdAt, manifest.createdAt, 'the stored manifest is not replaced by the refused one');
});
