import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  createCa,
  describeCert,
  issueNodeCert,
  issueNodeCertForPublicKey,
  keyMatchesCert,
  verifySignedBy,
  type CertAndKey,
} from '../src/pki/ca.js';
import {
  formatNodeId,
  luhn32,
  nodeIdFromCertPem,
  nodeIdFromSpki,
  normalizeNodeId,
  parseNodeId,
  shortNodeId,
} from '../src/pki/node-id.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const ca = await createCa();
const otherCa = await createCa({ commonName: 'another network' });
const alice = await issueNodeCert(ca, {
  name: 'alice',
  ips: ['127.0.0.1', '::1', '127.0.0.1'],
  dns: ['localhost', 'Alice.LAN', 'alice.lan'],
});

// Syncthing lib/protocol/deviceid_test.go: one device id, as digest bytes (RFC 4648 decoding of its
// 52 data characters, done outside this code) and in canonical form.
const SYNCTHING_DIGEST_HEX = '7f7c8723ecca5b4d22061c4981b34c34d865ec376be1eb74330873c9a6f9b205';
const SYNCTHING_ID = 'P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

test('createCa: a self-signed P-256 CA with critical basicConstraints (pathLen 0) and keyUsage', async () => {
  const info = describeCert(ca.certPem);
  assert.equal(info.isCa, true);
  assert.equal(info.commonName, 'p2pfx network CA');
  assert.equal(info.issuer, info.subject);
  assert.equal(info.serverAuth, false);
  assert.match(info.serialHex, /^[0-9a-f]{32,34}$/);
  assert.equal(info.notBefore.getTime() <= Date.now() - 4 * 60 * 1000, true, 'backdated for clock skew');
  assert.equal(Math.round((info.notAfter.getTime() - Date.now()) / DAY_MS), 3650);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(await verifySignedBy(ca.certPem, ca.certPem), true);
  assert.equal(await keyMatchesCert(ca.certPem, ca.keyPem), true);

  // Cross-check with OpenSSL's parser rather than our own.
  const text = new X509Certificate(ca.certPem);
  assert.equal(text.ca, true);
  assert.equal(text.verify(text.publicKey), true);
  assert.equal(text.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(describeCert(otherCa.certPem).commonName, 'another network');
});

test('issueNodeCert: EKUs, deduplicated SANs, leaf constraints, signed by its CA only', async () => {
  const info = describeCert(alice.certPem);
  assert.equal(info.isCa, false);
  assert.equal(info.commonName, 'alice');
  assert.equal(info.issuer, 'CN=p2pfx network CA');
  assert.deepEqual(info.ips, ['127.0.0.1', '::1']);
  assert.deepEqual(info.dns, ['localhost', 'alice.lan']);
  assert.equal(info.serverAuth, true);
  assert.equal(info.clientAuth, true);
  assert.equal(Math.round((info.notAfter.getTime() - Date.now()) / DAY_MS), 825);
  assert.equal(info.nodeId, nodeIdFromCertPem(alice.certPem));
  assert.notEqual(info.serialHex, describeCert(ca.certPem).serialHex);

  const openssl = new X509Certificate(alice.certPem);
  assert.equal(openssl.ca, false);
  assert.equal(openssl.checkIssued(new X509Certificate(ca.certPem)), true);
  assert.equal(openssl.verify(new X509Certificate(ca.certPem).publicKey), true);
  assert.equal(openssl.checkIP('::1'), '::1');

  assert.equal(await verifySignedBy(alice.certPem, ca.certPem), true);
  assert.equal(await verifySignedBy(alice.certPem, otherCa.certPem), false);
  const stranger = await issueNodeCert(otherCa, { name: 'stranger' });
  assert.equal(await verifySignedBy(stranger.certPem, ca.certPem), false);
  assert.deepEqual(describeCert(stranger.certPem).ips, []);
});

test('issueNodeCert: serverAuth-only and clientAuth-only certificates', async () => {
  const server = describeCert((await issueNodeCert(ca, { name: 'srv', clientAuth: false })).certPem);
  assert.deepEqual([server.serverAuth, server.clientAuth], [true, false]);
  const client = describeCert((await issueNodeCert(ca, { name: 'cli', serverAuth: false })).certPem);
  assert.deepEqual([client.serverAuth, client.clientAuth], [false, true]);
});

test('verifySignedBy: false outside the validity period and for a tampered signature', async () => {
  const past = new Date(Date.now() - 10 * DAY_MS);
  const expired = await issueNodeCert(ca, { name: 'old', now: past, validityDays: 1 });
  assert.equal(await verifySignedBy(expired.certPem, ca.certPem), false);
  assert.equal(await verifySignedBy(expired.certPem, ca.certPem, new Date(past.getTime() + 60 * 60 * 1000)), true);
  assert.equal(await verifySignedBy(alice.certPem, ca.certPem, new Date(Date.now() - DAY_MS)), false, 'not yet valid');

  const der = new X509Certificate(alice.certPem).raw;
  der[der.length - 1]! ^= 0x01; // last byte of the signature's s value: still parses, no longer verifies
  const tampered = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
  assert.equal(await verifySignedBy(tampered, ca.certPem), false);
});

test('keyMatchesCert: true for the pair, false for another key', async () => {
  assert.equal(await keyMatchesCert(alice.certPem, alice.keyPem), true);
  assert.equal(await keyMatchesCert(alice.certPem, ca.keyPem), false);
  assert.equal(await keyMatchesCert(ca.certPem, alice.keyPem), false);
});

test('issueNodeCertForPublicKey: certifies a key the caller keeps', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const certPem = await issueNodeCertForPublicKey(ca, spki, { name: 'joiner', ips: ['192.168.1.20'] });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assert.equal(await keyMatchesCert(certPem, keyPem), true);
  assert.deepEqual(describeCert(certPem).spkiDer, new Uint8Array(spki));
  assert.equal(describeCert(certPem).nodeId, nodeIdFromSpki(spki));
  assert.equal(await verifySignedBy(certPem, ca.certPem), true);

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
  await assert.rejects(issueNodeCertForPublicKey(ca, rsa, { name: 'rsa' }), { code: 'INVALID_ARGUMENT', message: /P-256/ });
  await assert.rejects(issueNodeCertForPublicKey(ca, new Uint8Array([1, 2, 3]), { name: 'junk' }), { code: 'INVALID_ARGUMENT' });
});

test('issueNodeCert: refuses a CA pair that does not belong together', async () => {
  await assert.rejects(issueNodeCert({ certPem: ca.certPem, keyPem: otherCa.keyPem }, { name: 'x' }), {
    code: 'CERT_INVALID',
    message: /does not belong/,
  });
  await assert.rejects(issueNodeCert(alice, { name: 'x' }), { code: 'CERT_INVALID', message: /not a CA/ });
  await assert.rejects(issueNodeCert({ certPem: 'garbage', keyPem: ca.keyPem }, { name: 'x' }), { code: 'CERT_INVALID' });
  await assert.rejects(issueNodeCert({ certPem: ca.certPem, keyPem: 'garbage' }, { name: 'x' }), { code: 'CERT_INVALID' });
});

test('input validation: names, addresses, host names, validity, usages', async () => {
  for (const name of ['', 'a b', 'x'.repeat(65), 'ümlaut', '../etc', 'a/b']) {
    await assert.rejects(issueNodeCert(ca, { name }), { code: 'INVALID_ARGUMENT', message: /node name/ }, name);
  }
  for (const ip of ['999.1.1.1', '10.0.0', 'fe80::1%eth0', 'localhost', '01.2.3.4']) {
    const named = new RegExp(ip.replace(/\./g, '\\.'));
    await assert.rejects(issueNodeCert(ca, { name: 'n', ips: [ip] }), { code: 'INVALID_ARGUMENT', message: named }, ip);
  }
  for (const dns of ['bad_name', '-x.lan', 'x-.lan', 'a..b', '*.lan', '10.0.0.1', `${'a'.repeat(64)}.lan`]) {
    const expected = { code: 'INVALID_ARGUMENT', message: /DNS host name/ };
    await assert.rejects(issueNodeCert(ca, { name: 'n', dns: [dns] }), expected, dns);
  }
  for (const validityDays of [0, -1, 1.5, Number.NaN, 100_000]) {
    await assert.rejects(issueNodeCert(ca, { name: 'n', validityDays }), { code: 'INVALID_ARGUMENT', message: /validityDays/ });
  }
  await assert.rejects(issueNodeCert(ca, { name: 'n', serverAuth: false, clientAuth: false }), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(createCa({ commonName: '' }), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(createCa({ now: new Date('nonsense') }), { code: 'INVALID_ARGUMENT' });
});

test('garbage PEM is CERT_INVALID everywhere', async () => {
  const truncated = alice.certPem.replace(/\n[^\n]+\n-----END/, '\n-----END');
  for (const pem of ['', 'hello', alice.keyPem, truncated, alice.certPem + ca.certPem]) {
    assert.throws(() => describeCert(pem), { code: 'CERT_INVALID' }, pem);
    assert.throws(() => nodeIdFromCertPem(pem), { code: 'CERT_INVALID' });
    await assert.rejects(verifySignedBy(pem, ca.certPem), { code: 'CERT_INVALID' });
    await assert.rejects(verifySignedBy(alice.certPem, pem), { code: 'CERT_INVALID' });
  }
  await assert.rejects(keyMatchesCert(alice.certPem, 'not a key'), { code: 'CERT_INVALID' });
});

test('mTLS 1.3 handshake: a node of the same CA is accepted, one of another CA refused', async (t) => {
  const server = await issueNodeCert(ca, { name: 'server', ips: ['127.0.0.1'] });
  const client = await issueNodeCert(ca, { name: 'client' });
  const stranger = await issueNodeCert(otherCa, { name: 'stranger' });
  const seenPeers: string[] = [];
  const listener = tls.createServer(
    {
      key: server.keyPem,
      cert: server.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      // Recomputed from OpenSSL's view of the peer certificate, independently of describeCert.
      const spki = socket.getPeerX509Certificate()?.publicKey.export({ type: 'spki', format: 'der' });
      if (spki !== undefined) seenPeers.push(nodeIdFromSpki(spki));
      socket.end('hello');
    },
  );
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const { port } = listener.address() as AddressInfo;

  assert.equal(await exchange(port, client, ca.certPem), 'hello');
  assert.deepEqual(seenPeers, [describeCert(client.certPem).nodeId]);

  // The stranger trusts our CA, so only the server can refuse. In TLS 1.3 the client finishes its
  // side before the server judges its certificate: it sees the connection closed (or reset), never
  // the server's data, and the server's connection handler never runs.
  const refusal = once(listener, 'tlsClientError');
  const outcome = await exchange(port, stranger, ca.certPem).catch((err: unknown) => err);
  assert.notEqual(outcome, 'hello');
  await refusal;
  assert.equal(seenPeers.length, 1);

  // The client checks the server too: its certificate must name the address dialled.
  await assert.rejects(exchange(port, client, ca.certPem, '127.0.0.2'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});

/** Connects with `id`, trusting `caPem`; resolves with what the server sent before closing. */
function exchange(port: number, id: CertAndKey, caPem: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      key: id.keyPem,
      cert: id.certPem,
      ca: caPem,
      minVersion: 'TLSv1.3',
      // Checks the certificate against another address than the one dialled.
      ...(servername === undefined ? {} : { checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert) }),
    });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('end', () => resolve(received));
    socket.on('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

test('node id: Syncthing vectors (luhn32 and a full device id)', () => {
  assert.equal(luhn32('AB725E4GHIQPL3ZFGT'), 'G');
  const digest = new Uint8Array(Buffer.from(SYNCTHING_DIGEST_HEX, 'hex'));
  assert.equal(formatNodeId(digest), SYNCTHING_ID);
  assert.deepEqual(parseNodeId(SYNCTHING_ID), digest);
  for (const spelling of [
    'P56IOI7 MZJNU2Y IQGDREY DM2MGTI MGL3BXN PQ6W5BM TBBZ4TJ XZWICQ2',
    'p56ioi7mzjnu2yiqgdreydm2mgtimgl3bxnpq6w5bmtbbz4tjxzwicq2',
    'P56IOI7MZJNU2Y-IQGDREYDM2MGTI-MGL3BXNPQ6W5BM-TBBZ4TJXZWICQ2',
  ]) {
    assert.equal(normalizeNodeId(spelling), SYNCTHING_ID, spelling);
  }
  assert.equal(shortNodeId(SYNCTHING_ID.toLowerCase()), 'P56IOI7');
});

test('node id: SHA-256 of the SubjectPublicKeyInfo, round trips', () => {
  const { spkiDer, nodeId } = describeCert(alice.certPem);
  assert.equal(nodeId, formatNodeId(createHash('sha256').update(spkiDer).digest()));
  assert.match(nodeId, /^([A-Z2-7]{7}-){7}[A-Z2-7]{7}$/);
  assert.notEqual(nodeId, describeCert(ca.certPem).nodeId);
  for (let i = 0; i < 100; i++) {
    const digest = new Uint8Array(randomBytes(32));
    assert.deepEqual(parseNodeId(formatNodeId(digest)), digest);
  }
  assert.deepEqual(parseNodeId(formatNodeId(new Uint8Array(32))), new Uint8Array(32));
});

test('node id: every single-character substitution is caught', () => {
  const compact = SYNCTHING_ID.replaceAll('-', '');
  let tried = 0;
  for (let pos = 0; pos < compact.length; pos++) {
    for (const char of BASE32) {
      if (char === compact[pos]) continue;
      const typo = compact.slice(0, pos) + char + compact.slice(pos + 1);
      const group = Math.floor(pos / 14) + 1;
      const expected = { code: 'INVALID_ARGUMENT', message: new RegExp(`check character mismatch in group ${group}\\b`) };
      assert.throws(() => parseNodeId(typo), expected, typo);
      tried++;
    }
  }
  assert.equal(tried, 56 * 31);
});

test('node id: wrong length, characters outside the alphabet, digests of the wrong size', () => {
  const compact = SYNCTHING_ID.replaceAll('-', '');
  for (const text of ['', compact.slice(1), `${compact}A`, 'P56IOI7MZJNU2IQGDREYDM2MGTMGL3BXNPQ6W5BTBBZ4TJXZWICQ']) {
    assert.throws(() => parseNodeId(text), { code: 'INVALID_ARGUMENT', message: /expected 56 characters/ }, text);
  }
  assert.throws(() => parseNodeId(`1${compact.slice(1)}`), { code: 'INVALID_ARGUMENT', message: /"1" is not allowed/ });
  assert.throws(() => formatNodeId(new Uint8Array(31)), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => shortNodeId('not an id'), { code: 'INVALID_ARGUMENT' });
});
