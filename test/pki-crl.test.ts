import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createCa, describeCert, issueNodeCert, type CertAndKey } from '../src/pki/ca.js';
import { createCrl, isNewer, isRevoked, normalizeSerialHex, readCrl, type CrlInfo } from '../src/pki/crl.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const SKEW_MS = 5 * 60 * 1000;
const ca = await createCa();
const otherCa = await createCa({ commonName: 'another network' });
const twinCa = await createCa(); // same subject as `ca`, another key
const serverA = await issueNodeCert(ca, { name: 'a', ips: ['127.0.0.1'] });
const nodeB = await issueNodeCert(ca, { name: 'b', ips: ['127.0.0.1'] });
// The two revoked nodes: C's serial has its first bit set (its DER INTEGER starts with 00), D's not.
const nodeC = await issueUntil((first) => first >= 0x80, 'c');
const nodeD = await issueUntil((first) => first < 0x80, 'd');
const revokingCrl = await createCrl(ca, {
  number: 2,
  revoked: [
    { serialHex: `00${serialOf(nodeC)}`, revokedAt: new Date(), reason: 'keyCompromise' },
    { serialHex: serialOf(nodeD).toLowerCase(), revokedAt: new Date() },
  ],
});
const emptyCrl = await createCrl(ca, { number: 1, revoked: [] });

/** The serial as OpenSSL shows it: uppercase hex, no leading 00. */
function serialOf(cert: CertAndKey): string {
  return new X509Certificate(cert.certPem).serialNumber;
}

/** A node certificate whose serial's first byte passes `accept` (each try is a coin flip). */
async function issueUntil(accept: (firstByte: number) => boolean, name: string): Promise<CertAndKey> {
  for (let i = 0; i < 64; i++) {
    const cert = await issueNodeCert(ca, { name, ips: ['127.0.0.1'] });
    if (accept(Number.parseInt(serialOf(cert).padStart(32, '0').slice(0, 2), 16))) return cert;
  }
  throw new Error('no serial of the wanted shape in 64 tries');
}

test('createCrl: X509 CRL PEM with CRL Number, the CA\'s key id, backdated thisUpdate, nextUpdate = CA notAfter', async () => {
  const now = new Date();
  const pem = await createCrl(ca, { number: 7, revoked: [{ serialHex: serialOf(nodeC), revokedAt: now, reason: 'superseded' }], now });
  assert.match(pem, /^-----BEGIN X509 CRL-----\n[\s\S]+\n-----END X509 CRL-----\n?$/);

  // Read back with the library rather than our own code.
  const crl = new x509.X509Crl(pem);
  const caCert = new x509.X509Certificate(ca.certPem);
  assert.equal(crl.issuer, caCert.subject);
  assert.equal(await crl.verify({ publicKey: caCert.publicKey }), true);
  assert.deepEqual(crl.signatureAlgorithm, { name: 'ECDSA', hash: { name: 'SHA-256' } });
  assert.equal(crl.thisUpdate.getTime(), Math.floor((now.getTime() - SKEW_MS) / 1000) * 1000);
  assert.equal(crl.nextUpdate?.getTime(), caCert.notAfter.getTime());
  const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension);
  assert.equal(aki?.keyId, caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  const number = crl.getExtension('2.5.29.20');
  assert.deepEqual(new Uint8Array(number!.value), new Uint8Array([0x02, 0x01, 0x07]));
  assert.equal(number!.critical, false);
  assert.equal(crl.entries.length, 1);
  assert.equal(crl.entries[0]!.reason, x509.X509CrlReason.superseded);

  const info = await readCrl(pem, ca.certPem);
  assert.equal(info.number, 7n);
  assert.equal(info.pem, pem);
  assert.deepEqual(info.revokedSerials, [serialOf(nodeC).toLowerCase()]);
  assert.equal(info.thisUpdate.getTime(), crl.thisUpdate.getTime());
  assert.equal(info.nextUpdate?.getTime(), describeCert(ca.certPem).notAfter.getTime());
  assert.equal(isRevoked(info, nodeC.certPem), true);
  assert.equal(isRevoked(info, nodeB.certPem), false);

  const empty = await readCrl(emptyCrl, ca.certPem);
  assert.deepEqual(empty.revokedSerials, []);
  assert.equal(isRevoked(empty, nodeC.certPem), false);
  // Stays good until the CA itself ends.
  await readCrl(emptyCrl, ca.certPem, new Date(describeCert(ca.certPem).notAfter.getTime() - 1000));
});

test('serials with a high first bit (DER 00 prefix) and without match however they are written', async () => {
  const c = serialOf(nodeC);
  assert.equal(new X509Certificate(nodeC.certPem).raw.includes(Buffer.from(`0211${'00'}${c.slice(0, 2)}`, 'hex')), true, 'DER serial is 00 + 16 bytes');
  assert.equal(normalizeSerialHex(`00${c}`), c.toLowerCase());
  assert.equal(normalizeSerialHex(c), c.toLowerCase());
  assert.equal(normalizeSerialHex('0005ab'), '05ab');
  assert.equal(normalizeSerialHex('5ab'), '05ab');
  assert.equal(normalizeSerialHex('00'), '00');
  assert.equal(normalizeSerialHex('AB:CD'), 'abcd');
  assert.throws(() => normalizeSerialHex('xyz'), { code: 'INVALID_ARGUMENT' });

  const info = await readCrl(revokingCrl, ca.certPem);
  assert.deepEqual(info.revokedSerials, [c.toLowerCase(), serialOf(nodeD).toLowerCase()]);
  assert.equal(isRevoked(info, nodeC.certPem), true);
  assert.equal(isRevoked(info, nodeD.certPem), true);
  assert.equal(isRevoked(info, nodeB.certPem), false);
  assert.equal(isRevoked(info, serverA.certPem), false);
  assert.throws(() => isRevoked(info, 'garbage'), { code: 'CERT_INVALID' });
  // Written without the 00, the entry is the same integer.
  const plain = await readCrl(await createCrl(ca, { number: 3, revoked: [{ serialHex: c, revokedAt: new Date() }] }), ca.certPem);
  assert.equal(isRevoked(plain, nodeC.certPem), true);
});

test('readCrl: a CRL of another CA, or of a CA with the same name and another key, is CRL_INVALID', async () => {
  const foreign = await createCrl(otherCa, { number: 1, revoked: [] });
  await assert.rejects(readCrl(foreign, ca.certPem), { code: 'CRL_INVALID', message: /issued by "CN=another network"/ });
  const twin = await createCrl(twinCa, { number: 1, revoked: [] });
  await assert.rejects(readCrl(twin, ca.certPem), { code: 'CRL_INVALID', message: /signature does not verify/ });
  await assert.rejects(readCrl(emptyCrl, 'not a cert'), { code: 'CERT_INVALID' });
});

test('readCrl: tampered CRLs are CRL_INVALID', async () => {
  const der = Buffer.from(new x509.X509Crl(revokingCrl).rawData);
  const pemOf = (bytes: Buffer): string => x509.PemConverter.encode(bytes, 'X509 CRL');
  const lastByte = Buffer.from(der);
  lastByte[lastByte.length - 1]! ^= 0x01; // the signature's s: still parses, no longer verifies
  await assert.rejects(readCrl(pemOf(lastByte), ca.certPem), { code: 'CRL_INVALID', message: /signature/ });
  // A revoked serial changed by one bit: the entry someone would like to drop.
  const serial = Buffer.from(serialOf(nodeD), 'hex');
  const at = der.indexOf(serial);
  assert.ok(at > 0);
  const entry = Buffer.from(der);
  entry[at + serial.length - 1]! ^= 0x01;
  await assert.rejects(readCrl(pemOf(entry), ca.certPem), { code: 'CRL_INVALID', message: /signature/ });
  // Truncated PEM body.
  const truncated = revokingCrl.replace(/\n[^\n]+\n-----END/, '\n-----END');
  await assert.rejects(readCrl(truncated, ca.certPem), { code: 'CRL_INVALID' });
});

test('readCrl: garbage, other PEM blocks, two CRLs, the "BEGIN CRL" label are CRL_INVALID', async () => {
  const otherLabel = revokingCrl.replaceAll('X509 CRL', 'CRL'); // OpenSSL would not read it
  for (const pem of ['', 'hello', ca.certPem, ca.keyPem, emptyCrl + revokingCrl, otherLabel, 42 as unknown as string]) {
    await assert.rejects(readCrl(pem, ca.certPem), { code: 'CRL_INVALID' }, String(pem));
  }
  const notDer = '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n';
  await assert.rejects(readCrl(notDer, ca.certPem), { code: 'CRL_INVALID', message: /not a valid X\.509 CRL/ });
});

test('readCrl: a CRL without a CRL number is CRL_INVALID', async () => {
  const key = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.keyPem),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const caCert = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName,
    thisUpdate: new Date(Date.now() - SKEW_MS),
    nextUpdate: caCert.notAfter,
    signingKey: key,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const pem = x509.PemConverter.encode(crl.rawData, 'X509 CRL');
  assert.equal(await crl.verify({ publicKey: caCert.publicKey }), true);
  await assert.rejects(readCrl(pem, ca.certPem), { code: 'CRL_INVALID', message: /0 CRL Number extensions/ });
});

test('readCrl: refuses a CRL that TLS would refuse at `now` (expired, or not yet valid)', async () => {
  const expired = await createCrl(ca, { number: 3, revoked: [], now: new Date(Date.now() - 2 * DAY_MS), nextUpdate: new Date(Date.now() - DAY_MS) });
  await assert.rejects(readCrl(expired, ca.certPem), { code: 'CRL_INVALID', message: /expired/ });
  assert.equal((await readCrl(expired, ca.certPem, new Date(Date.now() - 1.5 * DAY_MS))).number, 3n);
  const ahead = await createCrl(ca, { number: 4, revoked: [], now: new Date(Date.now() + DAY_MS) });
  await assert.rejects(readCrl(ahead, ca.certPem), { code: 'CRL_INVALID', message: /not valid before/ });
  // The 5-minute backdating: a node whose clock is 4 minutes behind the CA takes a fresh CRL.
  await readCrl(emptyCrl, ca.certPem, new Date(Date.now() - 4 * 60 * 1000));
});

test('isNewer: by CRL number, up to 20 octets', async () => {
  const info = async (number: bigint | number): Promise<CrlInfo> => readCrl(await createCrl(ca, { number, revoked: [] }), ca.certPem);
  const one = await info(1);
  const two = await info(2);
  const huge = await info(2n ** 159n - 1n);
  const high = await info(0x80); // encoded 02 02 00 80
  assert.equal(huge.number, 2n ** 159n - 1n);
  assert.equal(high.number, 128n);
  assert.equal(isNewer(two, one), true);
  assert.equal(isNewer(one, two), false);
  assert.equal(isNewer(two, await info(2)), false, 'the same number is not newer');
  assert.equal(isNewer(huge, high), true);
  assert.equal(isNewer(high, two), true);
  assert.equal(isNewer(one, null), true);
});

test('createCrl: input validation', async () => {
  for (const number of [0, -1, 1.5, Number.NaN, 2 ** 60, 2n ** 159n, '3' as unknown as number]) {
    await assert.rejects(createCrl(ca, { number, revoked: [] }), { code: 'INVALID_ARGUMENT', message: /CRL number/ }, String(number));
  }
  const serial = serialOf(nodeC);
  await assert.rejects(createCrl(ca, { number: 1, revoked: [{ serialHex: 'not hex', revokedAt: new Date() }] }), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(
    createCrl(ca, { number: 1, revoked: [{ serialHex: serial, revokedAt: new Date() }, { serialHex: `00${serial.toLowerCase()}`, revokedAt: new Date() }] }),
    { code: 'INVALID_ARGUMENT', message: /listed twice/ },
  );
  await assert.rejects(createCrl(ca, { number: 1, revoked: [{ serialHex: serial, revokedAt: new Date('x') }] }), { code: 'INVALID_ARGUMENT' });
  const badReason = { serialHex: serial, revokedAt: new Date(), reason: 'removeFromCRL' as 'superseded' };
  await assert.rejects(createCrl(ca, { number: 1, revoked: [badReason] }), { code: 'INVALID_ARGUMENT', message: /reason/ });
  await assert.rejects(createCrl(ca, { number: 1, revoked: [], nextUpdate: new Date(Date.now() - DAY_MS) }), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(createCrl(ca, { number: 1, revoked: [], now: new Date('x') }), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(createCrl(nodeB, { number: 1, revoked: [] }), { code: 'CERT_INVALID', message: /not a CA/ });
  await assert.rejects(createCrl({ certPem: ca.certPem, keyPem: otherCa.keyPem }, { number: 1, revoked: [] }), {
    code: 'CERT_INVALID',
    message: /does not belong/,
  });
});

// ---- Node's TLS with the `crl` option --------------------------------------------------------

/** The context options src/net/tls.ts builds: TLS 1.3, the network CA, and the CRL when there is one. */
function contextOptions(id: CertAndKey, crl: string | null): tls.SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: ca.certPem, minVersion: 'TLSv1.3', ...(crl === null ? {} : { crl }) };
}

interface ServerSeen {
  /** Connections that reached the application. */
  accepted: number;
  /** tlsClientError: the error, and the verification result Node kept on the socket. */
  refused: Array<{ code: string | undefined; message: string; authorizationError: string | null }>;
}

async function startTlsServer(t: { after(fn: () => unknown): void }, id: CertAndKey, crl: string | null): Promise<{ server: tls.Server; port: number; seen: ServerSeen }> {
  const seen: ServerSeen = { accepted: 0, refused: [] };
  const server = tls.createServer({ ...contextOptions(id, crl), requestCert: true, rejectUnauthorized: true }, (socket) => {
    seen.accepted++;
    socket.end('hello');
  });
  watchRefusals(server, seen);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function watchRefusals(server: tls.Server, seen: ServerSeen): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    seen.refused.push({ code: err.code, message: err.message, authorizationError: authorizationErrorOf(socket) });
  });
}

function authorizationErrorOf(socket: tls.TLSSocket): string | null {
  const value = socket.authorizationError as unknown; // typed Error, but Node keeps the code string there
  return value === null || value === undefined ? null : String(value);
}

interface Outcome {
  secureConnect: boolean;
  authorized: boolean;
  reused: boolean;
  data: string;
  ended: boolean;
  error: { code: string | undefined; message: string } | null;
  session: Buffer | null;
}

/** One client connection: what the client side observed, in full. */
function handshake(port: number, id: CertAndKey, opts: { crl?: string | null; session?: Buffer; write?: Buffer } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { secureConnect: false, authorized: false, reused: false, data: '', ended: false, error: null, session: null };
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...contextOptions(id, opts.crl ?? null),
      // As src/net/client.ts: an address is not an identity, the CA signature is.
      checkServerIdentity: () => undefined,
      ...(opts.session === undefined ? {} : { session: opts.session }),
    });
    socket.setEncoding('utf8');
    socket.on('session', (session: Buffer) => (outcome.session = session));
    socket.on('secureConnect', () => {
      outcome.secureConnect = true;
      outcome.authorized = socket.authorized;
      outcome.reused = socket.isSessionReused();
      if (opts.write !== undefined) socket.write(opts.write);
    });
    socket.on('data', (chunk: string) => (outcome.data += chunk));
    socket.on('end', () => (outcome.ended = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (outcome.error = { code: err.code, message: err.message }));
    socket.on('close', () => resolve(outcome));
    socket.setTimeout(5000, () => socket.destroy(new Error('test timeout')));
  });
}

const served = (o: Outcome): boolean => o.secureConnect && o.authorized && o.data === 'hello' && o.error === null;

/** Runs a connection the server is expected to refuse, and waits for its tlsClientError too. */
async function refusedBy<T>(server: tls.Server, connect: () => Promise<T>): Promise<T> {
  const refusal = once(server, 'tlsClientError'); // after watchRefusals' listener, so `seen` is up to date
  const result = await connect();
  await refusal;
  return result;
}

test('TLS (1): a server with the CRL refuses a revoked client after the client has finished the handshake', { timeout: 30_000 }, async (t) => {
  const { server, port, seen } = await startTlsServer(t, serverA, revokingCrl);

  assert.equal(served(await handshake(port, nodeB)), true);
  assert.equal(seen.accepted, 1);

  for (const revoked of [nodeC, nodeD]) {
    const before = seen.refused.length;
    const outcome = await refusedBy(server, () => handshake(port, revoked));
    // TLS 1.3: the client's side of the handshake completes (secureConnect, server cert fine), then
    // the server judges the client's certificate and closes without an alert: a clean end, no data.
    assert.deepEqual(
      { secureConnect: outcome.secureConnect, authorized: outcome.authorized, data: outcome.data, ended: outcome.ended, error: outcome.error },
      { secureConnect: true, authorized: true, data: '', ended: true, error: null },
    );
    // The server: no connection, a tlsClientError that says only "socket hang up"; the reason is
    // the socket's authorizationError.
    assert.deepEqual(seen.refused.slice(before), [{ code: 'ECONNRESET', message: 'socket hang up', authorizationError: 'CERT_REVOKED' }]);
  }
  assert.equal(seen.accepted, 1);

  // A client that sends at once (as an HTTP request does) sees either the same clean end or, when
  // its bytes were still unread as the server closed, ECONNRESET; never data.
  const writing = await refusedBy(server, () => handshake(port, nodeC, { write: Buffer.alloc(100_000) }));
  assert.equal(writing.secureConnect, true);
  assert.equal(writing.data, '');
  assert.ok(writing.error === null ? writing.ended : writing.error.code === 'ECONNRESET', JSON.stringify(writing.error));
  assert.equal(seen.refused.at(-1)?.authorizationError, 'CERT_REVOKED');
  assert.equal(seen.accepted, 1);
});

test('TLS (2): a client with the CRL refuses a revoked server during the handshake', { timeout: 30_000 }, async (t) => {
  const { server, port, seen } = await startTlsServer(t, nodeC, null);
  const outcome = await refusedBy(server, () => handshake(port, nodeB, { crl: revokingCrl }));
  assert.equal(outcome.secureConnect, false);
  assert.deepEqual(outcome.error, { code: 'CERT_REVOKED', message: 'certificate revoked' });
  // The client drops the connection without an alert; the server sees a hang-up, its own check passed.
  assert.deepEqual(seen.refused, [{ code: 'ECONNRESET', message: 'socket hang up', authorizationError: null }]);
  assert.equal(seen.accepted, 0);
  // Without the CRL the same server is fine: the refusal is the CRL's doing.
  assert.equal(served(await handshake(port, nodeB)), true);
});

test('TLS (3): an empty CRL loaded on both sides leaves normal handshakes alone', { timeout: 30_000 }, async (t) => {
  const { port, seen } = await startTlsServer(t, serverA, emptyCrl);
  for (const client of [nodeB, nodeC, nodeD]) {
    assert.equal(served(await handshake(port, client, { crl: emptyCrl })), true);
  }
  assert.equal(seen.accepted, 3);
  assert.deepEqual(seen.refused, []);
});

test('TLS (4): a CRL that has expired, is not yet valid, or is not the CA\'s fails every handshake that loads it', { timeout: 30_000 }, async (t) => {
  const expired = await createCrl(ca, { number: 5, revoked: [], now: new Date(Date.now() - 2 * DAY_MS), nextUpdate: new Date(Date.now() - DAY_MS) });
  const ahead = await createCrl(ca, { number: 6, revoked: [], now: new Date(Date.now() + DAY_MS) });
  const foreign = await createCrl(otherCa, { number: 1, revoked: [] });
  const cases = [
    { crl: expired, code: 'CRL_HAS_EXPIRED', message: 'CRL has expired' },
    { crl: ahead, code: 'CRL_NOT_YET_VALID', message: 'CRL is not yet valid' },
    { crl: foreign, code: 'UNABLE_TO_GET_CRL', message: 'unable to get certificate CRL' },
  ];
  for (const { crl, code, message } of cases) {
    // readCrl would not have let it in.
    await assert.rejects(readCrl(crl, ca.certPem), { code: 'CRL_INVALID' });

    // Loaded by a server: every client is refused, revoked or not, as in (1).
    const server = await startTlsServer(t, serverA, crl);
    const outcome = await refusedBy(server.server, () => handshake(server.port, nodeB));
    assert.deepEqual([outcome.secureConnect, outcome.data, outcome.error], [true, '', null], code);
    assert.deepEqual(server.seen.refused, [{ code: 'ECONNRESET', message: 'socket hang up', authorizationError: code }]);
    assert.equal(server.seen.accepted, 0);

    // Loaded by a client: every server is refused, with the CRL's error as the client's error.
    const healthy = await startTlsServer(t, nodeB, null);
    const asClient = await handshake(healthy.port, nodeD, { crl });
    assert.equal(asClient.secureConnect, false);
    assert.deepEqual(asClient.error, { code, message });
  }
});

test('TLS (5): setSecureContext gives a running https.Server a newer CRL for new handshakes only', { timeout: 30_000 }, async (t) => {
  const serverOptions = { requestCert: true, rejectUnauthorized: true } as const;
  const seen: ServerSeen = { accepted: 0, refused: [] };
  const server = https.createServer({ ...contextOptions(serverA, emptyCrl), ...serverOptions }, (_req, res) => {
    seen.accepted++;
    res.end('hello');
  });
  watchRefusals(server, seen);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const { port } = server.address() as AddressInfo;

  // C, not yet revoked: served, and it keeps its connection open (HTTP keep-alive) and a session ticket.
  const kept = await keepAliveConnection(port, nodeC);
  assert.equal(await kept.request(), 'hello');
  const before = await handshake(port, nodeC, { write: httpGet() });
  assert.match(before.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello$/);
  assert.ok(before.session !== null);
  // Taken without restarting. setSecureContext replaces every context option, so all of them go in.
  server.setSecureContext(contextOptions(serverA, revokingCrl));

  const after = await refusedBy(server, () => handshake(port, nodeC, { write: httpGet() }));
  assert.deepEqual([after.secureConnect, after.data], [true, '']);
  assert.equal(seen.refused.at(-1)?.authorizationError, 'CERT_REVOKED');
  // Resuming the session C got before is not a way around it: the new context has new ticket keys.
  const resumed = await refusedBy(server, () => handshake(port, nodeC, { write: httpGet(), session: before.session! }));
  assert.deepEqual([resumed.secureConnect, resumed.reused, resumed.data], [true, false, '']);
  assert.equal(seen.refused.at(-1)?.authorizationError, 'CERT_REVOKED');
  // Others are still served.
  assert.match((await handshake(port, nodeB, { write: httpGet() })).data, /hello$/);
  // A connection made before the change is not checked again: it stays open until someone closes it.
  assert.equal(await kept.request(), 'hello');
  kept.close();
  assert.deepEqual(seen.refused.map((r) => r.authorizationError), ['CERT_REVOKED', 'CERT_REVOKED']);
});

test('TLS (6): a client resuming a cached session is not checked against a CRL it took since', { timeout: 30_000 }, async (t) => {
  const { port } = await startTlsServer(t, nodeC, null);
  const first = await handshake(port, nodeB, { crl: emptyCrl });
  assert.equal(served(first), true);
  assert.ok(first.session !== null);
  // Same server, a client context with the CRL that revokes it, and the old session: resumed, no check.
  const resumed = await handshake(port, nodeB, { crl: revokingCrl, session: first.session });
  assert.deepEqual([resumed.reused, served(resumed)], [true, true]);
  // A full handshake refuses it.
  assert.equal((await handshake(port, nodeB, { crl: revokingCrl })).error?.code, 'CERT_REVOKED');
});

function httpGet(keepAlive = false): Buffer {
  return Buffer.from(`GET / HTTP/1.1\r\nHost: p2pfx\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`);
}

/** A keep-alive HTTP/1.1 connection on which each request() resolves with the response body. */
async function keepAliveConnection(port: number, id: CertAndKey): Promise<{ request(): Promise<string>; close(): void }> {
  const socket = tls.connect({ host: '127.0.0.1', port, ...contextOptions(id, null), checkServerIdentity: () => undefined });
  await once(socket, 'secureConnect');
  socket.setEncoding('utf8');
  return {
    request: () =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: string): void => {
          text += chunk;
          const [head, body] = text.split('\r\n\r\n', 2);
          const length = /\r\ncontent-length: (\d+)/i.exec(head ?? '')?.[1];
          if (body !== undefined && length !== undefined && body.length >= Number(length)) {
            socket.off('data', onData);
            resolve(body);
          }
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.write(httpGet(true));
      }),
    close: () => socket.destroy(),
  };
}
