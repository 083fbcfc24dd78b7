// Enrollment (invite / join) over real TLS on 127.0.0.1: real listeners on port 0, real
// certificates from src/pki/ca.ts, temporary homes, and the attackers the construction is meant
// to stop (a fake CA, a relay in the middle, a guesser), each run as a real server.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createCa, issueNodeCert, issueNodeCertForPublicKey, type CertAndKey } from '../src/pki/ca.js';
import { P2pfxError } from '../src/core/errors.js';
import { createCrl } from '../src/pki/crl.js';
import { luhn32, nodeIdFromCertPem } from '../src/pki/node-id.js';
import { formatInviteCode, generateInviteCode, inviteCodeKey, parseInviteCode } from '../src/pki/invite-code.js';
import { InviteBook, inviteState } from '../src/store/invite-book.js';
import { IndexDb } from '../src/store/index-db.js';
import { Home } from '../src/store/home.js';
import { LocalNode } from '../src/store/local-node.js';
import { PeerClient } from '../src/net/client.js';
import { startNode } from '../src/node/run-node.js';
import { createInvite, startEnrollmentServer, withdrawInvite } from '../src/net/enroll.js';
import { ENROLL_PORT, joinKey, joinMac, MAX_FAILED_JOINS, sessionExporter } from '../src/net/protocol/enrollment.js';
import { joinNetwork } from '../src/net/join.js';
import { inviteCommand, joinCommand, parseDuration } from '../src/cli/commands/enroll.js';
import { DEFAULT_PORT } from '../src/core/limits.js';
import { makeHome, tempDir } from './helpers/network.js';
import { listFiles } from './helpers/cli.js';
import { LOCAL, assertNothingWritten, caSide, joinVia, joinerHome, joinsSeen, preparedJoin, readBody, readText, rejectsWith, until, wrongCode } from './helpers/enroll.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Listens on 127.0.0.1, port 0; after the test, every connection is cut and the server closed. */
async function listen(t: TestContext, server: TcpServer | HttpsServer): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, LOCAL);
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

/** A node certificate of another network, for servers that pose as the CA. */
async function foreignIdentity(): Promise<{ ca: CertAndKey; node: CertAndKey }> {
  const ca = await createCa({ commonName: 'impostor CA' });
  return { ca, node: await issueNodeCert(ca, { name: 'impostor', ips: [LOCAL] }) };
}

// --- codes ---------------------------------------------------------------------------------------

test('invite codes: 13 random base32 characters and a luhn32 check character, shown in four dash-separated groups', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const code = generateInviteCode();
    assert.match(code, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{2}$/);
    const compact = code.replace(/-/g, '');
    assert.equal(compact[13], luhn32(compact.slice(0, 13)));
    seen.add(code);
  }
  assert.equal(seen.size, 200);
  const code = generateInviteCode();
  const compact = code.replace(/-/g, '');
  assert.equal(parseInviteCode(code), compact);
  assert.equal(parseInviteCode(` ${compact.toLowerCase().replace(/(.{3})/g, '$1 ')} `), compact, 'lower case and spaces');
  assert.equal(parseInviteCode(compact.split('').join('-')), compact, 'dashes anywhere');
  assert.equal(formatInviteCode(compact.toLowerCase()), code);
});

test('a malformed code or a wrong check character is INVITE_CODE_INVALID, without repeating the code', () => {
  const code = generateInviteCode().replace(/-/g, '');
  const invalid = (text: string, why: RegExp) => {
    assert.throws(() => parseInviteCode(text), (err: P2pfxError) => {
      assert.equal(err.code, 'INVITE_CODE_INVALID');
      assert.match(err.message, why);
      assert.ok(!err.message.includes(code.slice(0, 8)), 'the message must not repeat the code');
      return true;
    });
  };
  invalid(code.slice(0, 13), /has 13 letters and digits; a code has 14/);
  invalid(`${code}A`, /has 15 letters/);
  invalid('', /has 0 letters/);
  invalid(`${code.slice(0, 5)}0${code.slice(6)}`, /contains "0": codes use the letters A-Z and the digits 2-7 only/);
  invalid(`${code.slice(0, 5)}_${code.slice(6)}`, /contains "_"/);
  // Every single substituted character is caught by the check character.
  for (let i = 0; i < 14; i++) {
    for (const c of BASE32) {
      if (c === code[i]) continue;
      invalid(code.slice(0, i) + c + code.slice(i + 1), /does not match its check character/);
    }
  }
});

test('the code key is scrypt of the normalized code: the same for any spelling, 32 bytes', async () => {
  const code = generateInviteCode();
  const a = await inviteCodeKey(code);
  const b = await inviteCodeKey(code.toLowerCase().replace(/-/g, ' '));
  assert.equal(a.length, 32);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, await inviteCodeKey(wrongCode(code)));
  await assert.rejects(inviteCodeKey('abc'), { code: 'INVITE_CODE_INVALID' });
});

test('--expires: 90s, 10m, 1h, bare minutes; 1 s to 24 h', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('2'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  for (const bad of ['0s', '25h', 'soon', '-5m', '1.5h']) assert.throws(() => parseDuration(bad), { code: 'INVALID_ARGUMENT' });
});

// --- the invite book -----------------------------------------------------------------------------

test('the invite book shares p2pfx.db with the index, stores the code key only, claims once', async (t) => {
  const dir = await tempDir(t);
  const dbPath = join(dir, 'p2pfx.db');
  const index = new IndexDb(dbPath);
  t.after(() => index.close());
  const book = new InviteBook(dbPath);
  t.after(() => book.close());
  const secret = randomBytes(32);
  const now = new Date('2030-01-01T00:00:00Z');
  const invite = book.create(secret, 600_000, now);
  assert.match(invite.id, /^[0-9a-f]{32}$/);
  assert.equal(invite.expiresAt, '2030-01-01T00:10:00.000Z');
  assert.deepEqual(book.get(invite.id)?.secret, secret);
  assert.equal(inviteState(invite, now), 'pending');
  assert.equal(inviteState(invite, new Date('2030-01-01T00:10:00Z')), 'expired');
  assert.equal(index.listManifests().length, 0, 'the index still works beside it');

  assert.equal(book.claim(invite.id, { nodeId: 'N', name: 'x' }, new Date('2030-01-01T00:11:00Z')), 'expired');
  assert.equal(book.claim(invite.id, { nodeId: 'N', name: 'x' }, now), 'claimed');
  assert.equal(book.claim(invite.id, { nodeId: 'M', name: 'y' }, now), 'used');
  assert.equal(book.claim('nope', { nodeId: 'M', name: 'y' }, now), 'missing');
  const used = book.get(invite.id)!;
  assert.deepEqual([used.usedByNodeId, used.usedByName, used.usedAt], ['N', 'x', now.toISOString()]);

  // Two connections (two processes, say) claiming one invite: one wins.
  const contested = book.create(randomBytes(32), 600_000, now);
  const book2 = new InviteBook(dbPath);
  t.after(() => book2.close());
  const claims = [book.claim(contested.id, { nodeId: 'A', name: 'a' }, now), book2.claim(contested.id, { nodeId: 'B', name: 'b' }, now)];
  assert.deepEqual(claims, ['claimed', 'used']);
  assert.equal(book2.get(contested.id)!.usedByNodeId, 'A');

  const other = book.create(randomBytes(32), 600_000, now);
  book.withdraw(other.id, new Date('2030-01-01T00:01:00Z'));
  assert.equal(inviteState(book.get(other.id)!, new Date('2030-01-01T00:01:00Z')), 'expired');
  assert.equal(book.prune(new Date('2030-01-02T00:00:00Z')), 3);
  assert.deepEqual(book.list(), []);
  assert.throws(() => book.create(randomBytes(16), 1000), { code: 'INVALID_ARGUMENT' });
});

// --- joining -------------------------------------------------------------------------------------

test('join: the new machine gets its certificate, the CA certificate, and then talks mTLS with the CA node', async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const home = joinerHome(side);
  const r = await joinNetwork({ home, host: LOCAL, port: side.server.port, code: code.toLowerCase(), name: 'newbie', ips: [LOCAL, '::1'] });

  assert.equal(r.name, 'newbie');
  assert.equal(r.caNodeId, side.caNodeId);
  assert.deepEqual(r.files, [home.caCertPath, home.crlPath, home.nodeKeyPath, home.nodeCertPath]);
  assert.equal(r.nodeId, nodeIdFromCertPem(await readText(home.nodeCertPath)));
  assert.equal(await readText(home.caCertPath), side.ca.certPem);
  assert.equal(await readText(home.crlPath), await readText(side.home.crlPath));
  assert.equal((await stat(home.nodeKeyPath)).mode & 0o777, 0o600);
  assert.deepEqual(await listFiles(home.root), ['certs/ca-cert.pem', 'certs/crl.pem', 'certs/node-cert.pem', 'certs/node-key.pem', 'p2pfx.db'], 'no CA key (the index records the CRL as checked)');

  // The CA recorded who used the invite, and said so.
  const book = new InviteBook(side.home.dbPath);
  const used = book.get(id)!;
  book.close();
  assert.equal(used.usedByNodeId, r.nodeId);
  assert.equal(used.usedByName, 'newbie');
  assert.ok(used.usedAt);
  assert.equal((await joinsSeen(side, 1)).length, 1);
  assert.deepEqual({ ...side.joins[0]!, certPem: '' }, { inviteId: id, nodeId: r.nodeId, name: 'newbie', ips: [LOCAL, '::1'], certPem: '' });

  // The CA keeps it among the certificates it issued (`certs list`, `certs revoke`).
  const index = new IndexDb(side.home.dbPath);
  const issued = index.listIssued();
  index.close();
  assert.deepEqual(issued.filter((c) => c.nodeId === r.nodeId).map((c) => [c.name, c.certPem, c.revokedAt]), [['newbie', await readText(home.nodeCertPath), null]]);

  // The joined home is a node of the network (CRLs on both sides): mutual TLS both ways with the CA's node.
  const caNode = await LocalNode.open(side.home);
  t.after(() => caNode.close());
  const newNode = await LocalNode.open(home);
  t.after(() => newNode.close());
  const caServer = await startNode(caNode, { host: LOCAL, port: 0 });
  t.after(() => caServer.close());
  const newServer = await startNode(newNode, { host: LOCAL, port: 0 });
  t.after(() => newServer.close());
  const toCa = new PeerClient({ host: LOCAL, port: caServer.port }, newNode.creds);
  t.after(() => toCa.close());
  const health = await toCa.health();
  assert.equal(health.nodeId, side.caNodeId);
  assert.equal(toCa.nodeId, side.caNodeId);
  const toNew = new PeerClient({ host: LOCAL, port: newServer.port }, caNode.creds);
  t.after(() => toNew.close());
  assert.equal((await toNew.health()).nodeId, r.nodeId);
  assert.equal(newNode.creds.name, 'newbie');
});

test('a home without a CRL: the joiner gets none (and a stale one is removed); a CRL of another CA is CRL_INVALID, nothing written', async (t) => {
  const side = await caSide(t);
  await rm(side.home.crlPath);
  const home = joinerHome(side);
  await joinVia(side, home, (await side.invite()).code);
  await writeFile(home.crlPath, 'stale');
  const r = await joinVia(side, home, (await side.invite()).code, { force: true });
  assert.ok(!r.files.includes(home.crlPath));
  assert.deepEqual(await listFiles(home.root), ['certs/ca-cert.pem', 'certs/node-cert.pem', 'certs/node-key.pem']);

  const foreign = await createCa({ commonName: 'someone else' });
  await writeFile(side.home.crlPath, await createCrl(foreign, { number: 7, revoked: [] }));
  const home2 = joinerHome(side, 'joiner2');
  await rejectsWith(joinVia(side, home2, (await side.invite()).code), 'CRL_INVALID', new RegExp(`^127\\.0\\.0\\.1:${side.server.port} sent a CRL that cannot be taken: the CRL is issued by "CN=someone else"`));
  await assertNothingWritten(home2);
});

test('a wrong code is INVITE_REFUSED, nothing is written, and the invite stays open', async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const home = joinerHome(side);
  const err = await rejectsWith(joinVia(side, home, wrongCode(code)), 'INVITE_REFUSED', new RegExp(`^127\\.0\\.0\\.1:${side.server.port}: no invite of this CA matches the code`));
  assert.match(err.hint, /check the code and the address/);
  await assertNothingWritten(home);
  const book = new InviteBook(side.home.dbPath);
  t.after(() => book.close());
  assert.equal(inviteState(book.get(id)!), 'pending');
  await joinVia(side, home, code);
});

test('a malformed code or a bad check character is INVITE_CODE_INVALID before any connection', async (t) => {
  const dir = await tempDir(t);
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.destroy();
  });
  const port = await listen(t, server);
  const home = new Home(join(dir, 'joiner'));
  const code = generateInviteCode().replace(/-/g, '');
  const flipped = code.slice(0, 13) + BASE32[(BASE32.indexOf(code[13]!) + 1) % 32];
  for (const [bad, why] of [
    [flipped, /does not match its check character/],
    [code.slice(0, 10), /has 10 letters and digits/],
    [`${code.slice(0, 13)}1`, /contains "1"/],
  ] as const) {
    await rejectsWith(joinNetwork({ home, host: LOCAL, port, code: bad, name: 'newbie' }), 'INVITE_CODE_INVALID', why);
    await rejectsWith(joinCommand({ home: home.root, json: true }, `${LOCAL}:${port}`, bad, {}), 'INVITE_CODE_INVALID', why);
  }
  assert.equal(connections, 0, 'no connection was made');
  await assertNothingWritten(home);
});

test('an expired invite is INVITE_EXPIRED', async (t) => {
  const side = await caSide(t);
  const { code } = await side.invite({ ttlMs: 60_000, now: new Date(Date.now() - 120_000) });
  const home = joinerHome(side);
  await rejectsWith(joinVia(side, home, code), 'INVITE_EXPIRED', new RegExp(`^127\\.0\\.0\\.1:${side.server.port}: this invite expired at \\d{4}-`));
  await assertNothingWritten(home);
});

test('a withdrawn invite is INVITE_EXPIRED', async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  withdrawInvite(side.home, id);
  const home = joinerHome(side);
  await rejectsWith(joinVia(side, home, code), 'INVITE_EXPIRED', /this invite expired at/);
  await assertNothingWritten(home);
});

test('a used invite is INVITE_USED for the next machine', async (t) => {
  const side = await caSide(t);
  const { code } = await side.invite();
  await joinVia(side, joinerHome(side, 'first'), code);
  const second = joinerHome(side, 'second');
  await rejectsWith(joinVia(side, second, code), 'INVITE_USED', new RegExp(`^127\\.0\\.0\\.1:${side.server.port}: this invite was already used \\(at \\d{4}-`));
  await assertNothingWritten(second);
  assert.equal((await joinsSeen(side, 1)).length, 1);
});

test('two machines racing with one code: exactly one joins, the other gets INVITE_USED', async (t) => {
  const side = await caSide(t);
  const { code } = await side.invite();
  const homes = [joinerHome(side, 'a'), joinerHome(side, 'b'), joinerHome(side, 'c')];
  const results = await Promise.allSettled(homes.map((home, i) => joinVia(side, home, code, { name: `racer${i}` })));
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as P2pfxError] : []));
  assert.equal(won.length, 1, 'exactly one wins');
  assert.equal(lost.length, 2);
  for (const err of lost) {
    assert.equal(err.code, 'INVITE_USED');
    assert.match(err.message, /this invite was (already used|used by another machine a moment ago)/);
  }
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected') await assertNothingWritten(homes[i]!);
    else assert.deepEqual(await listFiles(homes[i]!.root), ['certs/ca-cert.pem', 'certs/crl.pem', 'certs/node-cert.pem', 'certs/node-key.pem', 'p2pfx.db']);
  }
  assert.equal((await joinsSeen(side, 1)).length, 1);
});

test('requests with one code arriving together: the listener issues exactly one certificate', async (t) => {
  const side = await caSide(t);
  const { code } = await side.invite();
  const sends = await Promise.all(Array.from({ length: 8 }, (_, i) => preparedJoin(side.server.port, code, `racer${i}`)));
  const answers = await Promise.all(sends.map((send) => send()));
  assert.equal(answers.filter((a) => a.status === 200).length, 1, 'exactly one certificate');
  const refused = answers.filter((a) => a.status !== 200);
  for (const a of refused) {
    assert.equal(a.status, 410);
    assert.equal(a.body.error?.code, 'INVITE_USED');
  }
  // Some lost at the claim itself, having passed the first check while the winner's certificate was being signed.
  assert.ok(refused.some((a) => /a moment ago/.test(a.body.error!.message)), refused.map((a) => a.body.error?.message).join('\n'));
  assert.equal((await joinsSeen(side, 1)).length, 1);
});

test('a code holder cannot get a certificate for a public key it does not hold: 400, the invite stays open', async (t) => {
  const side = await caSide(t);
  const { code } = await side.invite();
  const victim = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const answer = await (await preparedJoin(side.server.port, code, 'thief', { publicKeyOf: victim.publicKey }))();
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error?.code, 'BAD_REQUEST');
  assert.match(answer.body.error!.message, /does not prove possession of its public key/);
  const honest = await (await preparedJoin(side.server.port, code, 'honest'))();
  assert.equal(honest.status, 200, 'the invite was not used up');
});

test('a fake CA that does not know the code: JOIN_UNVERIFIED, nothing written', async (t) => {
  const dir = await tempDir(t);
  const impostor = await foreignIdentity();
  let requests = 0;
  // Answers like a CA would, certificate and all, but can only guess at the MAC.
  const server = createHttpsServer({ key: impostor.node.keyPem, cert: impostor.node.certPem, minVersion: 'TLSv1.3' }, (req, res) => {
    requests++;
    void readBody(req).then(async (body) => {
      const certPem = await issueNodeCertForPublicKey(impostor.ca, Buffer.from(String(body.publicKey), 'base64'), { name: String(body.name) });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ certPem, caCertPem: impostor.ca.certPem, crlPem: null, caNodeId: nodeIdFromCertPem(impostor.node.certPem), mac: randomBytes(32).toString('base64') }));
    });
  });
  const port = await listen(t, server);
  const home = new Home(join(dir, 'joiner'));
  const err = await rejectsWith(
    joinNetwork({ home, host: LOCAL, port, code: generateInviteCode(), name: 'newbie' }),
    'JOIN_UNVERIFIED',
    new RegExp(`^127\\.0\\.0\\.1:${port} answered, but its answer is not bound to this code and this connection`),
  );
  assert.match(err.hint, /Nothing was saved/);
  assert.equal(requests, 1);
  await assertNothingWritten(home);
});

test('a server that knows the code but hands out certificates that do not fit: JOIN_UNVERIFIED', async (t) => {
  const dir = await tempDir(t);
  const realCa = await createCa();
  const caNode = await issueNodeCert(realCa, { name: 'ca-node', ips: [LOCAL] });
  const code = generateInviteCode();
  const codeKey = await inviteCodeKey(code);
  type Tamper = 'other-key' | 'other-ca-node' | 'foreign-tls-cert' | 'malformed';
  let tamper: Tamper = 'other-key';
  const impostor = await foreignIdentity();
  const serve = (identity: CertAndKey) => createHttpsServer({ key: identity.keyPem, cert: identity.certPem, minVersion: 'TLSv1.3' }, (req, res) => {
    void readBody(req).then(async (body) => {
      const key = joinKey(codeKey, sessionExporter(req.socket as TLSSocket));
      const otherKey = (await issueNodeCert(realCa, { name: 'x' })).certPem;
      const certPem = tamper === 'other-key' ? otherKey : await issueNodeCertForPublicKey(realCa, Buffer.from(String(body.publicKey), 'base64'), { name: String(body.name) });
      const fields = {
        certPem, caCertPem: realCa.certPem, crlPem: null,
        caNodeId: tamper === 'other-ca-node' ? nodeIdFromCertPem(otherKey) : tamper === 'malformed' ? 42 : nodeIdFromCertPem(caNode.certPem),
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...fields, mac: joinMac(key, 'join-response', fields) }));
    });
  });
  const honestPort = await listen(t, serve(caNode));
  const foreignPort = await listen(t, serve(impostor.node));
  const home = new Home(join(dir, 'joiner'));
  const cases: Array<[Tamper, number, RegExp]> = [
    ['other-key', honestPort, /the node certificate is for another key than the one this machine made/],
    ['other-ca-node', honestPort, /the listener's certificate is not that of CA node/],
    ['foreign-tls-cert', foreignPort, /the listener's own TLS certificate is not signed by that CA/],
  ];
  for (const [which, port, why] of cases) {
    tamper = which;
    const err = await rejectsWith(joinNetwork({ home, host: LOCAL, port, code, name: 'newbie' }), 'JOIN_UNVERIFIED', why);
    assert.match(err.message, /knew the code but its answer does not fit together/);
    await assertNothingWritten(home);
  }
  // The MAC checks, and the answer is not of the protocol's shape: the CA's side is broken, nothing is taken.
  tamper = 'malformed';
  await rejectsWith(joinNetwork({ home, host: LOCAL, port: honestPort, code, name: 'newbie' }), 'PEER_ERROR', new RegExp(`^127\\.0\\.0\\.1:${honestPort} sent a malformed join answer: /caNodeId must be string`));
  await assertNothingWritten(home);
});

test('a machine in the middle relaying to the real listener: the listener refuses (the exporters differ)', async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const impostor = await foreignIdentity();
  let relayed = 0;
  // Terminates the joiner's TLS with its own certificate and opens its own to the CA: it sees and
  // forwards every byte of the request, MAC included.
  const relay = createTlsServer({ key: impostor.node.keyPem, cert: impostor.node.certPem, minVersion: 'TLSv1.3' }, (down) => {
    relayed++;
    const up = tlsConnect({ host: LOCAL, port: side.server.port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    down.pipe(up).pipe(down);
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
  });
  const relayPort = await listen(t, relay);
  const home = joinerHome(side);
  await rejectsWith(
    joinNetwork({ home, host: LOCAL, port: relayPort, code, name: 'newbie' }),
    'INVITE_REFUSED',
    new RegExp(`^127\\.0\\.0\\.1:${relayPort}: no invite of this CA matches the code on this connection`),
  );
  assert.equal(relayed, 1);
  await assertNothingWritten(home);
  assert.equal(side.joins.length, 0);
  // The relay burned nothing: the invite is still open for the real joiner.
  const book = new InviteBook(side.home.dbPath);
  t.after(() => book.close());
  assert.equal(inviteState(book.get(id)!), 'pending');
  await joinVia(side, home, code);
});

test(`after ${MAX_FAILED_JOINS} wrong codes in a minute from one address: JOIN_RATE_LIMITED for that address, the right code included; another address joins`, async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const home = joinerHome(side);
  for (let i = 0; i < MAX_FAILED_JOINS; i++) {
    await rejectsWith(joinVia(side, home, wrongCode(code)), 'INVITE_REFUSED', /no invite of this CA matches/);
  }
  const err = await rejectsWith(joinVia(side, home, code), 'JOIN_RATE_LIMITED', new RegExp(`^127\\.0\\.0\\.1:${side.server.port}: 10 wrong codes were tried from this address in the last 60 s; no code from it is tried until a minute has passed`));
  assert.match(err.hint, /try again in a minute/);
  await rejectsWith(joinVia(side, home, wrongCode(code)), 'JOIN_RATE_LIMITED', /10 wrong codes were tried/);
  await assertNothingWritten(home);
  const book = new InviteBook(side.home.dbPath);
  t.after(() => book.close());
  assert.equal(inviteState(book.get(id)!), 'pending', 'refused unheard: the invite is untouched');
  // The guesser locked out itself only: the joiner on another address is heard.
  const answer = await (await preparedJoin(side.server.port, code, 'elsewhere', { localAddress: '127.0.0.2' }))();
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(inviteState(book.get(id)!), 'used');
});

test('bad names or addresses: INVALID_ARGUMENT before any traffic, or from the CA, leaving the invite open', async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const home = joinerHome(side);
  await rejectsWith(joinVia(side, home, code, { name: 'no spaces please' }), 'INVALID_ARGUMENT', /node name "no spaces please" must be 1 to 64/);
  await rejectsWith(joinVia(side, home, code, { ips: ['not-an-ip'] }), 'INVALID_ARGUMENT', /"not-an-ip" is not an IPv4 or IPv6 address/);
  // Passes the joiner's check, fails the CA's: answered with the CA's message, after the MAC matched.
  await rejectsWith(joinVia(side, home, code, { ips: ['fe80::1%eth0'] }), 'INVALID_ARGUMENT', new RegExp(`^127\\.0\\.0\\.1:${side.server.port}: "fe80::1%eth0" is not an IPv4 or IPv6 address \\(without a %zone\\)`));
  await assertNothingWritten(home);
  const book = new InviteBook(side.home.dbPath);
  t.after(() => book.close());
  assert.equal(inviteState(book.get(id)!), 'pending');
});

test('a home with a node certificate is CERTS_EXIST unless force; a home with a CA key always', async (t) => {
  const side = await caSide(t);
  const home = joinerHome(side);
  const first = await joinVia(side, home, (await side.invite()).code);
  const { code } = await side.invite();
  await rejectsWith(joinVia(side, home, code), 'CERTS_EXIST', /node-cert\.pem already exists/);
  const again = await joinVia(side, home, code, { force: true });
  assert.notEqual(again.nodeId, first.nodeId, 'a new key pair');
  await rejectsWith(joinVia(side, side.home, (await side.invite()).code, { force: true }), 'CERTS_EXIST', /ca-key\.pem exists: this home holds a network CA/);
});

test('transport failures name host:port: refused (PEER_UNREACHABLE), silent (PEER_TIMEOUT), a node API port', async (t) => {
  const dir = await tempDir(t);
  const home = new Home(join(dir, 'joiner'));
  const closed = createTcpServer();
  const closedPort = await listen(t, closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const code = generateInviteCode();
  await rejectsWith(joinNetwork({ home, host: LOCAL, port: closedPort, code, name: 'n' }), 'PEER_UNREACHABLE', new RegExp(`connection refused by 127\\.0\\.0\\.1:${closedPort}: nothing listens on port ${closedPort}`));

  const silent = createTcpServer(() => undefined); // accepts, never speaks TLS
  const silentPort = await listen(t, silent);
  await rejectsWith(joinNetwork({ home, host: LOCAL, port: silentPort, code, name: 'n', timeoutMs: 500 }), 'PEER_TIMEOUT', new RegExp(`^127\\.0\\.0\\.1:${silentPort} did not complete the join within 1 s`));

  // The CA node's API port asks for a client certificate the joiner does not have.
  const side = await caSide(t);
  const node = await LocalNode.open(side.home);
  t.after(() => node.close());
  const api = await startNode(node, { host: LOCAL, port: 0 });
  t.after(() => api.close());
  const err = await rejectsWith(joinNetwork({ home, host: LOCAL, port: api.port, code, name: 'n' }), 'INVALID_PEER', new RegExp(`^127\\.0\\.0\\.1:${api.port} asks for a client certificate: it is a node's API port`));
  assert.match(err.hint, /Use the address and port `p2pfx invite` printed \(8444 unless/);
  await assertNothingWritten(home);
});

// --- the CLI commands, in this process -----------------------------------------------------------

/** Captures what is written to stdout (still passed through) until restored. */
function captureStdout(t: TestContext): { text(): string; lines(): unknown[] } {
  let text = '';
  const original = process.stdout.write;
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  t.after(() => {
    process.stdout.write = original;
  });
  return {
    text: () => text,
    lines: () => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown),
  };
}


test('p2pfx invite / p2pfx join --json: the code and the join line, then who joined', async (t) => {
  const dir = await tempDir(t);
  const ca = await createCa();
  const caHome = await makeHome(join(dir, 'ca'), ca, { name: 'ca-node', withCaKey: true });
  const out = captureStdout(t);
  const inviting = inviteCommand({ home: caHome.root, json: true }, { host: LOCAL, port: '0', expires: '5m' });
  const first = await until('the invite line', () => out.lines()[0] as Record<string, unknown> | undefined);
  const code = String(first.code);
  assert.match(code, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{2}$/);
  assert.equal(first.host, LOCAL);
  const port = Number(first.port);
  assert.ok(port > 0);
  assert.equal(first.join, `p2pfx join 127.0.0.1:${port} ${code}`);
  assert.equal(first.caNodeId, nodeIdFromCertPem(await readText(caHome.nodeCertPath)));
  assert.ok(Date.parse(String(first.expiresAt)) > Date.now() + 4 * 60_000);

  const joined = join(dir, 'joined');
  await joinCommand({ home: joined, json: true }, `127.0.0.1:${port}`, code.toLowerCase(), { name: 'gamma', ip: ['10.1.2.3'] });
  await inviting;
  const lines = out.lines() as Array<Record<string, unknown>>;
  const joinLine = lines.find((l) => 'files' in l)!;
  const inviteDone = lines.find((l) => 'joined' in l)!;
  assert.equal(joinLine.name, 'gamma');
  assert.equal(joinLine.caNodeId, first.caNodeId);
  assert.deepEqual(inviteDone.joined, { name: 'gamma', nodeId: joinLine.nodeId, ips: (inviteDone.joined as { ips: string[] }).ips });
  assert.ok((inviteDone.joined as { ips: string[] }).ips.includes('10.1.2.3'));
  // The listener is closed once the invite is used.
  await rejectsWith(joinNetwork({ home: new Home(join(dir, 'late')), host: LOCAL, port, code, name: 'late' }), 'PEER_UNREACHABLE', /connection refused/);
});

test('join puts the CA node in the new node\'s peer book, checked by handshake, at the port its listener says; a CA node not serving is said, not fatal', async (t) => {
  const dir = await tempDir(t);
  const ca = await createCa();
  const caHome = await makeHome(join(dir, 'ca'), ca, { name: 'ca-node', withCaKey: true });
  await writeFile(caHome.crlPath, await createCrl(ca, { number: 1, revoked: [] }));
  const caNode = await LocalNode.open(caHome);
  const api = await startNode(caNode, { host: LOCAL, port: 0 });
  t.after(async () => {
    await api.close();
    caNode.close();
  });
  const listener = await startEnrollmentServer({ home: caHome, host: LOCAL, port: 0, apiPort: api.port });
  t.after(() => listener.close());
  const out = captureStdout(t);
  const { code } = await createInvite({ home: caHome });
  const joinerRoot = join(dir, 'joiner');
  await joinCommand({ home: joinerRoot, json: true }, `${LOCAL}:${listener.port}`, code, { name: 'newbie' });
  const line = (out.lines() as Array<Record<string, unknown>>).find((l) => 'files' in l)!;
  assert.deepEqual(line.caPeer, { nodeId: caNode.creds.nodeId, name: 'ca-node', address: `${LOCAL}:${api.port}` });
  const joiner = await LocalNode.open(new Home(joinerRoot));
  t.after(() => joiner.close());
  assert.deepEqual(joiner.db.listPeers().map((p) => [p.nodeId, p.name, p.addresses[0]?.port]), [[caNode.creds.nodeId, 'ca-node', api.port]]);

  // The same CA, its API stopped: the join still succeeds, and says the CA node is not in the book yet.
  await api.close();
  const other = await startEnrollmentServer({ home: caHome, host: LOCAL, port: 0, apiPort: api.port });
  t.after(() => other.close());
  const again = await createInvite({ home: caHome });
  await joinCommand({ home: join(dir, 'second'), json: true }, `${LOCAL}:${other.port}`, again.code, { name: 'second' });
  const second = (out.lines() as Array<Record<string, unknown>>).filter((l) => 'files' in l)[1]!;
  assert.equal(second.name, 'second');
  assert.equal(second.caPeer, null);
});

test('p2pfx invite in text: prints the code and the join command; an unused invite ends INVITE_EXPIRED', async (t) => {
  const dir = await tempDir(t);
  const ca = await createCa();
  const caHome = await makeHome(join(dir, 'ca'), ca, { name: 'ca-node', withCaKey: true });
  const out = captureStdout(t);
  const inviting = inviteCommand({ home: caHome.root }, { host: LOCAL, port: '0', expires: '1s' });
  await rejectsWith(inviting, 'INVITE_EXPIRED', /the invite expired at \d\d:\d\d:\d\d without being used; the enrollment listener is closed/);
  const text = out.text();
  const m = /^Invite code: ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{2})$/m.exec(text);
  assert.ok(m, text);
  assert.match(text, new RegExp(`^  p2pfx join 127\\.0\\.0\\.1:\\d+ ${m[1]}$`, 'm'));
  assert.match(text, /^The code works once, until \d\d:\d\d:\d\d \(1 second\)/m);
  assert.match(text, /^This CA node: ca-node, id [A-Z2-7]{7}-/m);
});

test('p2pfx join HOST without a port dials ENROLL_PORT (DEFAULT_PORT + 1)', async (t) => {
  assert.equal(ENROLL_PORT, DEFAULT_PORT + 1);
  const dir = await tempDir(t);
  let caught: unknown;
  await joinCommand({ home: join(dir, 'joiner'), json: true }, LOCAL, generateInviteCode(), {}).catch((err: unknown) => (caught = err));
  // Whatever is (or is not) on that port, the error names the address dialled.
  assert.ok(caught instanceof P2pfxError);
  assert.match(caught.message, new RegExp(`127\\.0\\.0\\.1:${ENROLL_PORT}`));
  assert.deepEqual(await listFiles(join(dir, 'joiner')), []);
});

test('p2pfx invite where the CA key is not the key of the CA certificate: CERT_INVALID naming both files, no invite stored', async (t) => {
  const dir = await tempDir(t);
  const ca = await createCa();
  const home = await makeHome(join(dir, 'mixed'), ca, { name: 'mixed', withCaKey: true });
  await writeFile(home.caKeyPath, (await createCa()).keyPem); // another CA's key
  const keyBefore = await readText(home.caKeyPath);
  await rejectsWith(inviteCommand({ home: home.root }, { host: LOCAL, port: '0' }), 'CERT_INVALID', /ca-key\.pem is not the key of .*ca-cert\.pem$/);
  assert.deepEqual((await listFiles(home.root)).filter((f) => f.startsWith('p2pfx.db')), [], 'no invite was stored');
  assert.equal(await readText(home.caKeyPath), keyBefore, 'the key file is left as it was');
});

test('p2pfx invite on a machine without the CA key: CA_KEY_MISSING, no invite stored', async (t) => {
  const dir = await tempDir(t);
  const ca = await createCa();
  const home = await makeHome(join(dir, 'plain'), ca, { name: 'plain' });
  await rejectsWith(inviteCommand({ home: home.root }, { host: LOCAL, port: '0' }), 'CA_KEY_MISSING', /no CA key in .*: only the CA's machine can invite/);
  assert.deepEqual((await listFiles(home.root)).filter((f) => f.startsWith('p2pfx.db')), [], 'no invite was stored');
});
