// Setup closes its loops (issue 16): after `join` the new node and the CA node are in each
// other's peer books — the joiner dials the CA node's API, then says hello (POST /v1/peers/hello),
// and the CA node records it under its certificate's id at the address it comes from; `serve`
// says hello again at start, so a port that changed is learned. Real mTLS servers on 127.0.0.1,
// certificates from our own pki, real homes; the joiner is the built command.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { P2pfxError } from '../src/core/errors.js';
import { DEFAULT_PORT } from '../src/core/limits.js';
import { PeerClient } from '../src/net/client.js';
import { createInvite, startEnrollmentServer } from '../src/net/enroll.js';
import { observedHost } from '../src/net/hello.js';
import { HELLO_PATH } from '../src/net/protocol/peers.js';
import { greetPeers, GREET_CONCURRENCY, type GreetEvent } from '../src/node/greet-peers.js';
import { startNode, type RunningNode } from '../src/node/run-node.js';
import { createCa, type CertAndKey } from '../src/pki/ca.js';
import { createCrl } from '../src/pki/crl.js';
import { Home } from '../src/store/home.js';
import { LocalNode } from '../src/store/local-node.js';
import { runCli, startServe, tempHome } from './helpers/cli.js';
import { LOCAL, until } from './helpers/enroll.js';
import { makeHome } from './helpers/network.js';

interface CaNode { dir: string; ca: CertAndKey; node: LocalNode; api: RunningNode; invite(): Promise<string>; enrollPort: number }

/** A CA node serving its API on 127.0.0.1 (port 0), and its enrollment listener telling joiners that port. */
async function caNode(t: TestContext): Promise<CaNode> {
  const dir = await tempHome(t, 'p2pfx-hello-');
  const ca = await createCa();
  const home = await makeHome(join(dir, 'ca'), ca, { name: 'ca-node', withCaKey: true });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(home.crlPath, await createCrl(ca, { number: 1, revoked: [] }));
  const node = await LocalNode.open(home);
  const api = await startNode(node, { host: LOCAL, port: 0 });
  const listener = await startEnrollmentServer({ home, host: LOCAL, port: 0, apiPort: api.port });
  t.after(async () => {
    await listener.close();
    await api.close();
    node.close();
  });
  return { dir, ca, node, api, enrollPort: listener.port, invite: async () => (await createInvite({ home })).code };
}

async function joinByCli(t: TestContext, side: CaNode, name: string, json = true): Promise<{ root: string; stdout: string }> {
  const root = join(side.dir, name);
  const r = await runCli(t, ['join', `${LOCAL}:${side.enrollPort}`, await side.invite(), '--home', root, '--name', name, ...(json ? ['--json'] : [])]);
  assert.equal(r.code, 0, r.stderr);
  return { root, stdout: r.stdout };
}

function bookOf(node: LocalNode): Array<{ nodeId: string; name: string; host: string | undefined; port: number | undefined; source: string }> {
  return node.db.listPeers().map((p) => ({ nodeId: p.nodeId, name: p.name, host: p.addresses[0]?.host, port: p.addresses[0]?.port, source: p.source }));
}

async function openNode(t: TestContext, root: string): Promise<LocalNode> {
  const node = await LocalNode.open(new Home(root));
  t.after(() => node.close());
  return node;
}

test('after join, the joiner and the CA node are in each other\'s peer books, each checked by handshake', async (t) => {
  const side = await caNode(t);
  const { root, stdout } = await joinByCli(t, side, 'newbie');
  const out = JSON.parse(stdout) as { nodeId: string; caPeer: { nodeId: string } | null; inCaBook: { address: string } | null };
  assert.equal(out.caPeer?.nodeId, side.node.creds.nodeId);
  assert.deepEqual(out.inCaBook, { address: `${LOCAL}:${DEFAULT_PORT}` });
  // The CA node's book: the joiner's id (from its client certificate), the address it came from,
  // and the port `serve` listens on by default (join has not served yet).
  assert.deepEqual(bookOf(side.node), [{ nodeId: out.nodeId, name: 'newbie', host: LOCAL, port: DEFAULT_PORT, source: 'hello' }]);
  const joiner = await openNode(t, root);
  assert.equal(joiner.creds.nodeId, out.nodeId);
  assert.deepEqual(bookOf(joiner), [{ nodeId: side.node.creds.nodeId, name: 'ca-node', host: LOCAL, port: side.api.port, source: 'added' }]);

  // In words, for a second machine.
  const second = await joinByCli(t, side, 'second', false);
  assert.match(second.stdout, new RegExp(`^The CA node ca-node \\(127\\.0\\.0\\.1:${side.api.port}\\) is in this node's peer book, checked by handshake\\.$`, 'm'));
  assert.match(second.stdout, new RegExp(`^This node is in the CA node's peer book, at 127\\.0\\.0\\.1:${DEFAULT_PORT} \\(where \`p2pfx serve\` listens by default`, 'm'));
  assert.deepEqual(bookOf(side.node).map((p) => p.name), ['newbie', 'second']);
});

test('join says when the CA node did not take this node into its book (an older CA node), or does not serve; the join succeeds', async (t) => {
  const side = await caNode(t);
  await side.api.close();
  // Not serving at all: said in the words join always used, and how the books fill later.
  const away = await joinByCli(t, side, 'early', false);
  assert.match(away.stdout, new RegExp(`^The CA node does not answer at 127\\.0\\.0\\.1:${side.api.port} now \\(PEER_UNREACHABLE\\); once it serves, .*\`p2pfx serve\` here then tells it where this node serves\\.$`, 'm'));
  // An older CA node: its API answers /v1/health, and has no hello route.
  const creds = side.node.creds;
  const older = createHttpsServer({ key: creds.keyPem, cert: creds.certPem, ca: creds.caCertPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (req, res) => {
    const health = req.url === '/v1/health';
    res.writeHead(health ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(health ? { status: 'ok', version: '0.0.1', nodeId: creds.nodeId, name: creds.name, chunks: 0 } : { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } }));
  });
  older.listen(side.api.port, LOCAL);
  await once(older, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    older.closeAllConnections();
    older.close(() => resolve());
  }));
  const late = await joinByCli(t, side, 'late', false);
  assert.match(late.stdout, /^The CA node ca-node \(127\.0\.0\.1:\d+\) is in this node's peer book, checked by handshake\.$/m);
  assert.match(late.stdout, /^The CA node did not take this node into its peer book now \(NOT_FOUND\); `p2pfx serve` here tells it where this node serves when it starts\.$/m);
  assert.match(late.stdout, /^Next: run `p2pfx serve` here\.$/m);
});

test('a joiner that serves on another port: its serve says hello, and the CA node\'s book gets the new port', async (t) => {
  const side = await caNode(t);
  const { root } = await joinByCli(t, side, 'mover');
  const serving = await startServe(t, root); // --port 0: not the default port join announced
  assert.notEqual(serving.port, DEFAULT_PORT);
  const entry = await until('the new port in the CA node\'s book', () => {
    const p = side.node.db.getPeer(serving.nodeId);
    return p?.addresses[0]?.port === serving.port ? p : undefined;
  });
  assert.equal(entry.source, 'hello');
  // The newest address first; the one join announced is kept behind it (up to the book's cap).
  assert.deepEqual(entry.addresses.map((a) => `${a.host}:${a.port}`), [`${LOCAL}:${serving.port}`, `${LOCAL}:${DEFAULT_PORT}`]);
  // And the CA node reaches it there, expecting its id.
  const client = new PeerClient({ host: LOCAL, port: serving.port }, side.node.creds, { expectNodeId: serving.nodeId, connections: 1 });
  t.after(() => client.close());
  assert.equal((await client.health()).nodeId, serving.nodeId);
});

test('serve\'s hellos are best effort: a CA node that is away is reported as an event, and the node serves on', async (t) => {
  const side = await caNode(t);
  const { root } = await joinByCli(t, side, 'loner');
  await side.api.close();
  const joiner = await openNode(t, root);
  const events: GreetEvent[] = [];
  const running = await startNode(joiner, { host: LOCAL, port: 0, greet: { onEvent: (e) => events.push(e) } });
  t.after(() => running.close());
  const [failed] = await until('the hello\'s outcome', () => (events.length > 0 ? events : undefined));
  assert.equal(failed?.type, 'greet-failed');
  assert.equal(failed.type === 'greet-failed' ? failed.code : '', 'PEER_UNREACHABLE');
  assert.equal(failed.nodeId, side.node.creds.nodeId);
  const client = new PeerClient({ host: LOCAL, port: running.port }, side.node.creds, { connections: 1 });
  t.after(() => client.close());
  assert.equal((await client.health()).status, 'ok');
});

test('serve greets each peer of the book once, a few at a time, and stop() cuts those under way', async (t) => {
  const dir = await tempHome(t, 'p2pfx-hello-');
  const ca = await createCa();
  const node = await LocalNode.open(await makeHome(join(dir, 'n'), ca, { name: 'n' }));
  t.after(() => node.close());
  // Peers that accept a connection and never say a word: each hello waits for its timeout.
  const sockets = new Set<Socket>();
  let total = 0;
  const silent = createTcpServer((s) => {
    sockets.add(s);
    total++;
    s.on('error', () => undefined);
  });
  silent.listen(0, LOCAL);
  await once(silent, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    silent.close(() => resolve());
  }));
  const port = (silent.address() as AddressInfo).port;
  const PEERS = 10;
  for (let i = 0; i < PEERS; i++) node.db.notePeer({ nodeId: `PEER${i}`, name: `p${i}`, host: LOCAL, port, source: 'added' });
  const events: GreetEvent[] = [];
  const greeting = greetPeers(node, { port: 9000, host: LOCAL, timeoutMs: 200, onEvent: (e) => events.push(e) });
  await greeting.done;
  assert.equal(total, PEERS, 'each peer once, no retries');
  assert.deepEqual(new Set(events.map((e) => e.type === 'greet-failed' && e.code)), new Set(['PEER_TIMEOUT']));

  // Every hello hanging: GREET_CONCURRENCY are under way and no more; stopped, they are cut, no
  // further one starts, nothing is reported.
  const before = total;
  const events2: GreetEvent[] = [];
  const hanging = greetPeers(node, { port: 9000, host: LOCAL, timeoutMs: 60_000, onEvent: (e) => events2.push(e) });
  await until('hellos under way', () => (total - before >= GREET_CONCURRENCY ? true : undefined));
  await hanging.stop();
  assert.equal(total - before, GREET_CONCURRENCY);
  assert.deepEqual(events2, []);
});

test('serve bound to loopback greets only the peers on this machine', async (t) => {
  const dir = await tempHome(t, 'p2pfx-hello-');
  const node = await LocalNode.open(await makeHome(join(dir, 'n'), await createCa(), { name: 'n' }));
  t.after(() => node.close());
  node.db.notePeer({ nodeId: 'FAR', name: 'far', host: '192.0.2.1', port: 8443, source: 'added' });
  const events: GreetEvent[] = [];
  await greetPeers(node, { port: 9000, host: LOCAL, onEvent: (e) => events.push(e) }).done;
  assert.deepEqual(events, []);
});

// ---------------------------------------------------------------------------- the route itself

async function post(t: TestContext, side: CaNode, creds: { certPem: string; keyPem: string }, body: string, type = 'application/json'): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const dispatcher = new Agent({ connect: { ca: side.ca.certPem, cert: creds.certPem, key: creds.keyPem, checkServerIdentity: () => undefined } });
  t.after(() => dispatcher.close());
  const res = await request(`https://${LOCAL}:${side.api.port}${HELLO_PATH}`, { method: 'POST', body, headers: { 'content-type': type }, dispatcher });
  return { status: res.statusCode, json: (await res.body.json()) as never };
}

test('POST /v1/peers/hello refuses a body that is not {name, port} with 400 BAD_REQUEST, and records nothing', async (t) => {
  const side = await caNode(t);
  const member = await makeHome(join(side.dir, 'member'), side.ca, { name: 'member' });
  const creds = await openNode(t, member.root).then((n) => n.creds);
  const bad: Array<[string, unknown]> = [
    ['port 0', { name: 'member', port: 0 }],
    ['port 70000', { name: 'member', port: 70000 }],
    ['port 1.5', { name: 'member', port: 1.5 }],
    ['port as text', { name: 'member', port: '8443' }],
    ['port true', { name: 'member', port: true }],
    ['a name with control characters', { name: 'mem\u0007ber\u001b[2J', port: 8443 }],
    ['a name "..", a path', { name: '..', port: 8443 }],
    ['a name of 65 characters', { name: 'a'.repeat(65), port: 8443 }],
    ['an empty name', { name: '', port: 8443 }],
    ['an extra field', { name: 'member', port: 8443, host: '10.0.0.9' }],
    ['an extra field naming another node', { name: 'member', port: 8443, nodeId: side.node.creds.nodeId }],
    ['no port', { name: 'member' }],
    ['no name', { port: 8443 }],
    ['an array', [{ name: 'member', port: 8443 }]],
    ['null', null],
    ['a number', 8443],
  ];
  for (const [what, body] of bad) {
    const r = await post(t, side, creds, JSON.stringify(body));
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error?.code, 'BAD_REQUEST', what);
    assert.match(r.json.error?.message ?? '', /^body /, what);
  }
  const notJson = await post(t, side, creds, 'name=member&port=8443', 'application/x-www-form-urlencoded');
  assert.equal(notJson.json.error?.code, 'UNSUPPORTED_MEDIA_TYPE');
  assert.deepEqual(bookOf(side.node), [], 'nothing recorded');

  // Control: the same member, well said.
  const ok = await post(t, side, creds, JSON.stringify({ name: 'member', port: 8443 }));
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { nodeId: creds.nodeId, name: 'member', host: LOCAL, port: 8443 });
  assert.deepEqual(bookOf(side.node), [{ nodeId: creds.nodeId, name: 'member', host: LOCAL, port: 8443, source: 'hello' }]);
});

test('a hello with this node\'s own certificate is refused (INVALID_PEER), nothing recorded', async (t) => {
  const side = await caNode(t);
  const self = new PeerClient({ host: LOCAL, port: side.api.port }, side.node.creds, { connections: 1 });
  t.after(() => self.close());
  await assert.rejects(self.hello({ name: 'ca-node', port: 8443 }), (err: unknown) => {
    assert.ok(err instanceof P2pfxError, String(err));
    assert.equal(err.code, 'INVALID_PEER');
    assert.match(err.message, /this hello comes with this node's own certificate/);
    return true;
  });
  assert.deepEqual(bookOf(side.node), []);
});

test('the address recorded is the connection\'s, an IPv4-mapped IPv6 address as IPv4', () => {
  assert.equal(observedHost('::ffff:192.168.1.20'), '192.168.1.20');
  assert.equal(observedHost('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(observedHost('127.0.0.1'), '127.0.0.1');
  assert.equal(observedHost('fe80::1'), 'fe80::1');
  assert.equal(observedHost('::ffff:999.1.1.1'), '::ffff:999.1.1.1');
  assert.equal(observedHost(undefined), '');
});
