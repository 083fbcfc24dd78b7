// LAN discovery on real UDP sockets. The packet rules run anywhere; everything that sends
// multicast runs in probe processes (test/fixtures/discovery-probe.ts) inside a LAN of network
// namespaces (scripts/netns.ts: hosts 198.18.0.1, .2, … on a bridge), so no packet touches
// the machine's own network. Without root or iproute2 those tests are skipped, saying why.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startDiscovery, type DiscoveryError, type Hint } from '../src/net/discovery.js';
import { DISCOVERY_GROUP, DISCOVERY_PORT, MAX_PACKET_BYTES, encodeAnnouncement, encodeQuery, parsePacket } from '../src/net/protocol/discovery.js';
import { formatNodeId } from '../src/pki/node-id.js';
import { cleanEnv } from './helpers/cli.js';
import { makeLan, netnsAvailable, type Lan, type LanHost } from '../scripts/netns.js';

const probePath = fileURLToPath(new URL('./fixtures/discovery-probe.js', import.meta.url));
const NETNS_SKIP = await netnsAvailable();
const netnsOnly = { skip: NETNS_SKIP ?? false };
/** How long anything here may take to be heard: far above what it takes (a few ms on a bridge). */
const WAIT_MS = 5_000;

const newNodeId = (): string => formatNodeId(randomBytes(32));
const json = (obj: unknown): Buffer => Buffer.from(JSON.stringify(obj));

// ---------------------------------------------------------------------------------------------
// The packet, without sockets

test('an announcement is read back as sent; a node id is taken in any spelling and given back canonical', () => {
  const nodeId = newNodeId();
  assert.deepEqual(parsePacket(encodeAnnouncement({ nodeId, name: 'alpha', port: 8443 })), { kind: 'announce', nodeId, name: 'alpha', port: 8443, query: false });
  assert.deepEqual(parsePacket(encodeAnnouncement({ nodeId, name: 'a.b_c-9', port: 1 }, { query: true })), { kind: 'announce', nodeId, name: 'a.b_c-9', port: 1, query: true });
  const loose = nodeId.replace(/-/g, '').toLowerCase();
  assert.deepEqual(parsePacket(json({ app: 'p2pfx', v: 1, nodeId: loose, name: 'x', port: 65535 })), { kind: 'announce', nodeId, name: 'x', port: 65535, query: false });
  assert.deepEqual(parsePacket(encodeQuery()), { kind: 'query', nodeId: null });
  assert.deepEqual(parsePacket(encodeQuery(loose)), { kind: 'query', nodeId });
  assert.deepEqual(JSON.parse(encodeAnnouncement({ nodeId, name: 'alpha', port: 8443 }).toString()), { app: 'p2pfx', v: 1, nodeId, name: 'alpha', port: 8443 });
  assert.deepEqual(JSON.parse(encodeQuery().toString()), { app: 'p2pfx', v: 1, query: true });
  assert.ok(encodeAnnouncement({ nodeId, name: 'n'.repeat(64), port: 65535 }, { query: true }).length < 200);
});

test('a packet may claim anything else: unknown fields, a host among them, are not part of what is read', () => {
  const nodeId = newNodeId();
  const packet = parsePacket(json({ app: 'p2pfx', v: 1, nodeId, name: 'alpha', port: 8443, host: '203.0.113.7', address: '203.0.113.8', later: { x: 1 } }));
  assert.deepEqual(packet, { kind: 'announce', nodeId, name: 'alpha', port: 8443, query: false });
});

test('packets that are not a well-formed p2pfx v1 announcement or query are ignored, never thrown on', () => {
  const nodeId = newNodeId();
  const good = { app: 'p2pfx', v: 1, nodeId, name: 'alpha', port: 8443 };
  // One wrong character: the check characters catch it.
  const typo = nodeId.slice(0, 3) + (nodeId[3] === 'A' ? 'B' : 'A') + nodeId.slice(4);
  const bad: [string, Uint8Array][] = [
    ['empty', Buffer.alloc(0)],
    ['not JSON', Buffer.from('hello')],
    ['binary', randomBytes(64)],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['JSON null', json(null)],
    ['JSON array', json([good])],
    ['JSON string', json('p2pfx')],
    ['JSON number', json(1)],
    ['another app', json({ ...good, app: 'other' })],
    ['no app', json({ v: 1, nodeId, name: 'alpha', port: 8443 })],
    ['version 2', json({ ...good, v: 2 })],
    ['version as text', json({ ...good, v: '1' })],
    ['node id with a typo', json({ ...good, nodeId: typo })],
    ['node id too short', json({ ...good, nodeId: nodeId.slice(0, 20) })],
    ['node id not a string', json({ ...good, nodeId: 42 })],
    ['no node id', json({ app: 'p2pfx', v: 1, name: 'alpha', port: 8443 })],
    ['name with a space', json({ ...good, name: 'al pha' })],
    ['name with a slash', json({ ...good, name: '../x' })],
    ['name empty', json({ ...good, name: '' })],
    ['name of 65', json({ ...good, name: 'n'.repeat(65) })],
    ['name not a string', json({ ...good, name: ['alpha'] })],
    ['no name', json({ app: 'p2pfx', v: 1, nodeId, port: 8443 })],
    ['port 0', json({ ...good, port: 0 })],
    ['port 65536', json({ ...good, port: 65536 })],
    ['port -1', json({ ...good, port: -1 })],
    ['port 1.5', json({ ...good, port: 1.5 })],
    ['port as text', json({ ...good, port: '8443' })],
    ['no port', json({ app: 'p2pfx', v: 1, nodeId, name: 'alpha' })],
    ['query as text', json({ app: 'p2pfx', v: 1, query: 'yes' })],
    ['query false, nothing announced', json({ app: 'p2pfx', v: 1, query: false })],
    ['neither announcement nor query', json({ app: 'p2pfx', v: 1, nodeId })],
    ['query with a bad node id', json({ app: 'p2pfx', v: 1, query: true, nodeId: typo })],
  ];
  for (const [why, data] of bad) assert.equal(parsePacket(data), null, why);
});

test('packets of more than 512 bytes are dropped unread', () => {
  const nodeId = newNodeId();
  const padded = (size: number): Buffer => {
    const base = { app: 'p2pfx', v: 1, nodeId, name: 'alpha', port: 8443, pad: '' };
    const buf = json({ ...base, pad: 'x'.repeat(size - json(base).length) });
    assert.equal(buf.length, size);
    return buf;
  };
  assert.equal(MAX_PACKET_BYTES, 512);
  assert.equal(parsePacket(padded(512))?.kind, 'announce');
  assert.equal(parsePacket(padded(513)), null);
  assert.equal(parsePacket(padded(65_000)), null);
});

test('the defaults: group 239.255.42.99 (IPv4 local scope), UDP port 21112', () => {
  assert.equal(DISCOVERY_GROUP, '239.255.42.99');
  assert.equal(DISCOVERY_PORT, 21112);
});

test('startDiscovery refuses bad options with INVALID_ARGUMENT before opening a socket', async () => {
  const base = { nodeId: newNodeId(), name: 'alpha', port: 8443, onHint: () => undefined };
  const cases: [string, Record<string, unknown>][] = [
    ['bad node id', { nodeId: 'ABCDEFG' }],
    ['bad name', { name: 'al pha' }],
    ['port 0', { port: 0 }],
    ['interval too short', { intervalMs: 10 }],
    ['group not multicast', { group: '10.0.0.1' }],
    ['UDP port out of range', { udpPort: 70000 }],
    ['interface not an address', { interfaceAddress: 'eth0' }],
  ];
  for (const [why, change] of cases) {
    await assert.rejects(startDiscovery({ ...base, ...change } as Parameters<typeof startDiscovery>[0]), { code: 'INVALID_ARGUMENT' }, why);
  }
  assert.throws(() => encodeAnnouncement({ nodeId: base.nodeId, name: 'x', port: 0 }), { code: 'INVALID_ARGUMENT' });
});

test('a discovery port another program holds is reported through onError, not thrown, and close() still works', async (t) => {
  // Held without SO_REUSEADDR, so discovery cannot share it. Nothing is ever sent: the bind fails
  // first, and the interface is pinned to loopback in any case.
  const holder = createSocket({ type: 'udp4', reuseAddr: false });
  await new Promise<void>((resolve) => holder.bind(0, '0.0.0.0', () => resolve()));
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const udpPort = holder.address().port;
  const errors: DiscoveryError[] = [];
  const discovery = await startDiscovery({
    nodeId: newNodeId(), name: 'alpha', port: 8443, udpPort, interfaceAddress: '127.0.0.1', intervalMs: 50,
    onHint: () => assert.fail('no hint can arrive on a socket that is not bound'),
    onError: (err) => errors.push(err),
  });
  discovery.announce(); // a no-op without a socket, not an error
  await sleep(300); // some periods: each tries to bind again; the same failure is reported once
  await discovery.close();
  await discovery.close(); // twice is fine
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
  assert.equal(errors[0]!.stage, 'bind');
  assert.equal(errors[0]!.errno, 'EADDRINUSE');
  assert.match(errors[0]!.message, new RegExp(`UDP port ${udpPort}`));
});

// ---------------------------------------------------------------------------------------------
// Probes on a LAN of network namespaces

interface ProbeEvent { event: string; at?: number; [key: string]: unknown }
interface HintEvent extends ProbeEvent { hint: Hint }
interface PacketEvent extends ProbeEvent { from: string; port: number; data: string }

/** A probe process: its JSON lines as events, commands on its stdin. */
class Probe {
  readonly events: ProbeEvent[] = [];
  private stderr = '';
  private readonly watchers = new Set<() => void>();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly label: string, readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ProbeEvent);
      } catch {
        this.events.push({ event: 'unreadable', line });
      }
      this.notify();
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => {
      resolve({ code, signal });
      this.notify();
    }));
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  describe(): string {
    return `\n${this.label} events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\n${this.label} stderr:\n${this.stderr}`;
  }

  /** The first event (from index `from`) that matches; fails after `timeoutMs` or if the probe ends first. */
  waitFor(what: string, match: (e: ProbeEvent) => boolean, { from = 0, timeoutMs = WAIT_MS } = {}): Promise<ProbeEvent> {
    return new Promise((resolve, reject) => {
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        settle();
      };
      const check = (): void => {
        const found = this.events.slice(from).find(match);
        if (found) return done(() => resolve(found));
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          return done(() => reject(new Error(`${this.label} ended before ${what}${this.describe()}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms${this.describe()}`))), timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  hints(): Hint[] {
    return this.events.filter((e): e is HintEvent => e.event === 'hint').map((e) => e.hint);
  }

  waitForHint(nodeId: string, opts?: { from?: number; timeoutMs?: number }): Promise<Hint> {
    return this.waitFor(`hint from ${nodeId}`, (e) => e.event === 'hint' && (e as HintEvent).hint.nodeId === nodeId, opts).then((e) => (e as HintEvent).hint);
  }

  /** Datagrams a raw probe received from `host` (decoded as JSON when they are). */
  packetsFrom(host: string, since = 0): { at: number; body: unknown }[] {
    return this.events
      .filter((e): e is PacketEvent => e.event === 'packet' && (e as PacketEvent).from === host && (e.at ?? 0) >= since)
      .map((e) => ({ at: e.at ?? 0, body: safeJson(Buffer.from(e.data, 'base64').toString('utf8')) }));
  }

  errors(): ProbeEvent[] {
    return this.events.filter((e) => e.event === 'error');
  }

  command(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** A raw probe sends `data` (to the group, or to `to`) and waits until it has gone. */
  async sendRaw(data: Buffer, to?: { host?: string; port?: number }): Promise<void> {
    const from = this.events.length;
    this.command(JSON.stringify({ send: data.toString('base64'), ...(to?.host ? { to: to.host } : {}), ...(to?.port ? { port: to.port } : {}) }));
    const sent = await this.waitFor('sent', (e) => e.event === 'sent', { from });
    assert.equal(sent.error, null, `${this.label} could not send${this.describe()}`);
  }

  async exit(timeoutMs = WAIT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} did not exit within ${timeoutMs} ms${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function startProbe(lan: Lan, host: LanHost, label: string, mode: 'node' | 'listen' | 'raw', opts: Record<string, unknown>): Probe {
  const child = lan.spawnIn(host, process.execPath, [probePath, mode, JSON.stringify(opts)], { env: cleanEnv() });
  return new Probe(label, child);
}

interface NodeProbe { probe: Probe; nodeId: string; name: string; port: number; host: LanHost }

/** A node running startDiscovery with the real defaults (group, UDP port, all multicast interfaces). */
async function startNodeProbe(lan: Lan, host: LanHost, name: string, opts: Record<string, unknown> = {}): Promise<NodeProbe> {
  const nodeId = newNodeId();
  const port = 8000 + Math.floor(Math.random() * 1000);
  const probe = startProbe(lan, host, `${name}@${host.address}`, 'node', { nodeId, name, port, ...opts });
  await probe.waitFor('ready', (e) => e.event === 'ready');
  return { probe, nodeId, name, port, host };
}

/** A bare socket on the discovery port of `host`, a member of the group: sees every packet, sends anything. */
async function startRaw(lan: Lan, host: LanHost): Promise<Probe> {
  const probe = startProbe(lan, host, `raw@${host.address}`, 'raw', { udpPort: DISCOVERY_PORT, group: DISCOVERY_GROUP, interfaceAddress: host.address });
  await probe.waitFor('ready', (e) => e.event === 'ready');
  return probe;
}

/** Polls `ok` until it holds; fails only after a bound that catches a hang, not a slow machine. */
async function until(ok: () => boolean, what: string, boundMs = 30_000): Promise<void> {
  for (const end = Date.now() + boundMs; !ok(); await sleep(20)) {
    if (Date.now() > end) assert.fail(`not seen within ${boundMs} ms: ${what}`);
  }
}

function assertHint(hint: Hint, of: NodeProbe): void {
  assert.deepEqual(hint, { nodeId: of.nodeId, name: of.name, host: of.host.address, port: of.port });
}

test('nodes on two hosts, and two nodes on one host, find each other at once with the right source addresses', netnsOnly, async (t) => {
  const lan = await makeLan(t, 2);
  const [h1, h2] = lan.hosts as [LanHost, LanHost];
  // A period of ten minutes: no node announces again during the test, so a node that starts later
  // can only learn of the earlier ones from their answers to the query its first announcement
  // carries — and they of it from that announcement. (No clock is read: the waits only bound a hang.)
  const once = { intervalMs: 600_000 };
  const a = await startNodeProbe(lan, h1, 'alpha', once);
  const b = await startNodeProbe(lan, h2, 'beta', once);
  const c = await startNodeProbe(lan, h1, 'gamma', once); // shares the UDP port with alpha (SO_REUSEADDR)
  const nodes = [a, b, c];
  for (const x of nodes) {
    for (const y of nodes) if (x !== y) assertHint(await x.probe.waitForHint(y.nodeId), y);
  }
  for (const x of nodes) {
    assert.ok(!x.probe.hints().some((h) => h.nodeId === x.nodeId), `${x.name} reported itself${x.probe.describe()}`);
    assert.deepEqual(x.probe.errors(), [], x.probe.describe());
  }
});

test('a node ignores its own announcements and any packet carrying its node id', netnsOnly, async (t) => {
  const lan = await makeLan(t, 2);
  const [h1, h2] = lan.hosts as [LanHost, LanHost];
  const raw = await startRaw(lan, h2);
  const a = await startNodeProbe(lan, h1, 'alpha', { intervalMs: 100 });
  // Someone posing as alpha, then a marker from another node id.
  await raw.sendRaw(encodeAnnouncement({ nodeId: a.nodeId, name: 'impostor', port: 9999 }));
  await raw.sendRaw(encodeQuery(a.nodeId)); // a query under its id: dropped as well
  const marker = newNodeId();
  await raw.sendRaw(encodeAnnouncement({ nodeId: marker, name: 'marker', port: 1234 }));
  assert.deepEqual(await a.probe.waitForHint(marker), { nodeId: marker, name: 'marker', host: h2.address, port: 1234 });
  // alpha's own announcements (every ~100 ms) loop back to it: three of them seen, none a hint.
  const own = () => raw.packetsFrom(h1.address).filter((p) => (p.body as { nodeId?: string }).nodeId === a.nodeId);
  await until(() => own().length >= 3, `three announcements of alpha${raw.describe()}`);
  assert.deepEqual(a.probe.hints().map((h) => h.nodeId), [marker], a.probe.describe());
});

test('garbage, oversized, wrong-app and invalid packets are ignored and the node keeps working', netnsOnly, async (t) => {
  const lan = await makeLan(t, 2);
  const [h1, h2] = lan.hosts as [LanHost, LanHost];
  const raw = await startRaw(lan, h2);
  const a = await startNodeProbe(lan, h1, 'alpha', { intervalMs: 60_000 });
  const other = newNodeId();
  const good = { app: 'p2pfx', v: 1, nodeId: other, name: 'other', port: 8443 };
  const junk = [
    Buffer.from('not json at all'),
    randomBytes(300),
    Buffer.from([0xff, 0xfe, 0x00]),
    json(null),
    json([good]),
    json({ ...good, app: 'syncthing' }),
    json({ ...good, v: 2 }),
    json({ ...good, nodeId: other.slice(0, 3) + (other[3] === 'A' ? 'B' : 'A') + other.slice(4) }), // a typo: check character fails
    json({ ...good, nodeId: `${other}X` }),
    json({ ...good, name: 'x'.repeat(65) }),
    json({ ...good, name: 'bad name' }),
    json({ ...good, port: 0 }),
    json({ ...good, port: 65536 }),
    json({ ...good, pad: 'x'.repeat(600) }), // valid but oversized
    Buffer.alloc(1400, 0x7b), // a full Ethernet frame of '{'
    json({ app: 'p2pfx', v: 1, query: 'please' }),
  ];
  for (const data of junk) await raw.sendRaw(data);
  // Unicast to alpha's address too: the same rules apply to a datagram not sent to the group.
  for (const data of junk.slice(0, 4)) await raw.sendRaw(data, { host: h1.address });
  // Datagrams between two hosts on one link arrive in order: once the marker is heard, all the junk was read.
  const marker = newNodeId();
  await raw.sendRaw(encodeAnnouncement({ nodeId: marker, name: 'marker', port: 4321 }));
  assert.deepEqual(await a.probe.waitForHint(marker), { nodeId: marker, name: 'marker', host: h2.address, port: 4321 });
  assert.deepEqual(a.probe.hints().map((h) => h.nodeId), [marker], `only the marker is a hint${a.probe.describe()}`);
  assert.deepEqual(a.probe.errors(), [], a.probe.describe());
  // Still working: it answers a query.
  const since = Date.now();
  await raw.sendRaw(encodeQuery());
  await raw.waitFor('alpha answering the query', (e) => e.event === 'packet' && (e as PacketEvent).from === h1.address && (e.at ?? 0) >= since);
  assert.equal(a.probe.child.exitCode, null, `alpha is still running${a.probe.describe()}`);
});

test("a hint's host is the UDP source address, whatever the packet claims", netnsOnly, async (t) => {
  const lan = await makeLan(t, 3);
  const [h1, h2, h3] = lan.hosts as [LanHost, LanHost, LanHost];
  const raw = await startRaw(lan, h3);
  const a = await startNodeProbe(lan, h1, 'alpha', { intervalMs: 60_000 });
  const liar = newNodeId();
  // Claims to be reachable at host 2 (and at an address outside the LAN); it is on host 3.
  await raw.sendRaw(json({ app: 'p2pfx', v: 1, nodeId: liar, name: 'liar', port: 8443, host: h2.address, address: '203.0.113.5', ip: h2.address }));
  assert.deepEqual(await a.probe.waitForHint(liar), { nodeId: liar, name: 'liar', host: h3.address, port: 8443 });
  // Sent straight to alpha (unicast) from host 3: still host 3.
  const from = a.probe.events.length;
  await raw.sendRaw(json({ app: 'p2pfx', v: 1, nodeId: liar, name: 'liar', port: 8444, host: h2.address }), { host: h1.address });
  assert.deepEqual(await a.probe.waitForHint(liar, { from }), { nodeId: liar, name: 'liar', host: h3.address, port: 8444 });
});

test('a query makes listening nodes announce at once, at most once a second; listenForHints uses it', netnsOnly, async (t) => {
  const lan = await makeLan(t, 2);
  const [h1, h2] = lan.hosts as [LanHost, LanHost];
  const raw = await startRaw(lan, h2);
  // A period of a minute: whatever alpha says in this test, it says because it was asked.
  const a = await startNodeProbe(lan, h1, 'alpha', { intervalMs: 60_000 });
  const b = await startNodeProbe(lan, h1, 'beta', { intervalMs: 60_000 });
  await sleep(1_100); // past the answers to each other's start-up queries

  // `p2pfx peers discover`: listen 1.5 s from host 2, query included.
  const listener = startProbe(lan, h2, 'listener', 'listen', { durationMs: 1_500 });
  const done = await listener.waitFor('hints', (e) => e.event === 'hints');
  const hints = done.hints as Hint[];
  assert.deepEqual(hints.map((h) => h.nodeId).sort(), [a.nodeId, b.nodeId].sort(), listener.describe());
  assertHint(hints.find((h) => h.nodeId === a.nodeId)!, a);
  assertHint(hints.find((h) => h.nodeId === b.nodeId)!, b);
  assert.deepEqual(await listener.exit(), { code: 0, signal: null }, listener.describe());
  const queries = raw.packetsFrom(h2.address).filter((p) => (p.body as { query?: boolean }).query === true);
  assert.ok(queries.length >= 1 && queries.length <= 3, `listener queried ${queries.length} times in 1.5 s${raw.describe()}`);

  // A burst of five queries gets one answer at once and one a second later, not five.
  await sleep(1_100);
  const since = Date.now();
  for (let i = 0; i < 5; i++) await raw.sendRaw(encodeQuery());
  const answers = () => raw.packetsFrom(h1.address, since).filter((p) => (p.body as { nodeId?: string }).nodeId === a.nodeId);
  await until(() => answers().length >= 2, `two answers of alpha to the burst${raw.describe()}`);
  // Room for the wrong behaviour to show (an answer per query): none comes. Not a measurement.
  await sleep(1_600);
  assert.equal(answers().length, 2, `alpha's answers to a burst of 5 queries${raw.describe()}`);
});

test('close() stops the announcements, frees the UDP port, and leaves nothing to keep the process alive', netnsOnly, async (t) => {
  const lan = await makeLan(t, 2);
  const [h1, h2] = lan.hosts as [LanHost, LanHost];
  const raw = await startRaw(lan, h2);
  const a = await startNodeProbe(lan, h1, 'alpha', { intervalMs: 100 });
  await raw.waitFor('three announcements', () => raw.packetsFrom(h1.address).length >= 3);
  a.probe.command('close');
  const closed = await a.probe.waitFor('closed', (e) => e.event === 'closed');
  assert.equal(closed.portFree, true, 'a socket without SO_REUSEADDR can bind the port once discovery is closed');
  // The probe does not call process.exit: it ends only if close() left no timer or socket behind.
  assert.deepEqual(await a.probe.exit(3_000), { code: 0, signal: null }, a.probe.describe());
  await sleep(400);
  assert.deepEqual(raw.packetsFrom(h1.address, (closed.at ?? 0) + 20), [], `nothing from alpha after close${raw.describe()}`);
});

test('a node whose interface cannot join the group reports it and keeps running', netnsOnly, async (t) => {
  const lan = await makeLan(t, 1);
  const [h1] = lan.hosts as [LanHost];
  const a = await startNodeProbe(lan, h1, 'alpha', { interfaceAddress: '198.18.0.200', intervalMs: 100 });
  const err = await a.probe.waitFor('a join error', (e) => e.event === 'error');
  assert.equal(err.stage, 'join', a.probe.describe());
  assert.match(String(err.errno), /^(EADDRNOTAVAIL|ENODEV)$/, a.probe.describe());
  await sleep(350); // tried again each period; reported once
  assert.equal(a.probe.errors().length, 1, a.probe.describe());
  assert.equal(a.probe.child.exitCode, null, a.probe.describe());
  a.probe.command('close');
  await a.probe.waitFor('closed', (e) => e.event === 'closed');
  assert.deepEqual(await a.probe.exit(3_000), { code: 0, signal: null }, a.probe.describe());
});
