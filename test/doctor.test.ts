// `p2pfx doctor` (issue 16), run as the built CLI on real homes: certificates from our own pki,
// nodes serving mTLS on 127.0.0.1 (port 0), a port a plain TCP server holds. Each check is one
// line `OK|WARN|FAIL detail[ — hint]`, in a fixed order; exit 1 on a FAIL. Where the API port is
// not what a test is about, it is 0 (any free port), so no other process can make it busy.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createCrl } from '../src/pki/crl.js';
import type { CertAndKey } from '../src/pki/ca.js';
import { writeFileAtomic } from '../src/store/fs-atomic.js';
import type { Home } from '../src/store/home.js';
import { assertNoStack, closedPort, runCli, type CliResult } from './helpers/cli.js';
import { makeHome, makeNetwork, tempDir, type TestNode } from './helpers/network.js';

interface Line { status: 'OK' | 'WARN' | 'FAIL'; text: string }
interface JsonCheck { name: string; status: string; detail: string; hint: string | null; code: string | null }

const CHECK_ORDER = ['home', 'certificates', 'node-cert-signed', 'node-cert-expiry', 'ca-cert-expiry', 'crl', 'downloads', 'port', 'multicast'];

function lines(r: CliResult): Line[] {
  assertNoStack(r);
  const out = r.stdout.trimEnd().split('\n');
  return out.map((l) => {
    const m = /^(OK|WARN|FAIL) +(\S.*)$/.exec(l);
    assert.ok(m, `a check line: ${JSON.stringify(l)}\n${r.stdout}`);
    return { status: m[1] as Line['status'], text: m[2]! };
  });
}

/** The CRL `certs` writes beside a new CA (number 1, nothing revoked), as a home of a network has it. */
async function writeCrl(ca: CertAndKey, home: Home): Promise<void> {
  await writeFileAtomic(home.crlPath, await createCrl(ca, { number: 1, revoked: [] }));
}

function notePeer(of: TestNode, peer: TestNode, port: number): void {
  of.node.db.notePeer({ nodeId: peer.node.creds.nodeId, name: peer.node.creds.name, host: '127.0.0.1', port, source: 'added' });
}

/** Whether this machine has an interface discovery could use: doctor's multicast check may WARN without one. */
function multicastOk(t: TestContext, check: { status: string; detail: string }): void {
  assert.ok(check.status === 'OK' || check.status === 'WARN', `multicast is never a FAIL: ${check.detail}`);
  if (check.status === 'WARN') t.diagnostic(`this machine has no multicast interface: ${check.detail}`);
}

test('doctor on a healthy serving node with a reachable peer: every check OK, in order, exit 0; --json says the same', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta');
  await writeCrl(net.ca, a.home);
  notePeer(a, b, b.server!.port);
  const args = ['doctor', '--home', a.home.root, '--port', String(a.server!.port)];

  const r = await runCli(t, args);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const got = lines(r);
  assert.equal(got.length, CHECK_ORDER.length + 1, r.stdout);
  got.forEach((l, i) => {
    if (CHECK_ORDER[i] === 'multicast') return multicastOk(t, { status: l.status, detail: l.text });
    assert.equal(l.status, 'OK', l.text);
  });
  assert.match(got[0]!.text, new RegExp(`^home ${a.home.root} \\(from --home\\): found, readable and writable$`));
  assert.ok(got[1]!.text.includes(a.node.creds.nodeId), got[1]!.text);
  assert.match(got[3]!.text, /^node certificate valid until \d{4}-\d\d-\d\d \(\d+ days\)$/);
  assert.match(got[5]!.text, /^CRL number 1, signed by the network CA and valid now/);
  assert.equal(got[6]!.text, `downloads folder ${join(a.home.root, 'received')} (from $P2PFX_DOWNLOADS): not there yet, \`p2pfx serve\` makes it`);
  assert.match(got[7]!.text, new RegExp(`API port ${a.server!.port} is held by this home's running node`));
  assert.equal(got[9]!.text, `peer beta at 127.0.0.1:${b.server!.port} answers as node ${b.node.creds.nodeId}`);

  const json = await runCli(t, [...args, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as { ok: boolean; checks: JsonCheck[] };
  assert.equal(report.ok, true);
  assert.deepEqual(report.checks.map((c) => c.name), [...CHECK_ORDER, `peer:${b.node.creds.nodeId}`]);
  for (const c of report.checks) {
    assert.deepEqual(Object.keys(c).sort(), ['code', 'detail', 'hint', 'name', 'status']);
    if (c.name === 'multicast') multicastOk(t, c);
    else assert.deepEqual([c.status, c.hint, c.code], ['OK', null, null], c.detail);
  }
});

test('doctor in a folder without certificates: FAIL naming the home and the three ways out, exit 1, nothing written', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(t, ['doctor', '--home', dir, '--port', '0']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  const got = lines(r);
  assert.deepEqual(got.map((l) => l.status).filter((s) => s === 'FAIL'), ['FAIL'], 'one FAIL: the certificates');
  const certs = got.find((l) => l.status === 'FAIL')!.text;
  assert.ok(certs.startsWith(`no certificates in the home ${dir} (certs/ lacks ca-cert.pem, node-cert.pem, node-key.pem) — `), certs);
  for (const way of ['--home DIR', '`p2pfx join HOST CODE`', '`p2pfx certs`']) assert.ok(certs.includes(way), `the hint names ${way}: ${certs}`);
  assert.match(r.stdout, /^OK +home .* found, readable and writable$/m);
  assert.match(r.stdout, /^WARN +the peer book was not checked/m);
  assert.deepEqual(await readdir(dir), [], 'doctor makes no home');

  const json = await runCli(t, ['doctor', '--home', dir, '--port', '0', '--json']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; checks: JsonCheck[] };
  assert.equal(report.ok, false);
  assert.deepEqual(report.checks.filter((c) => c.status === 'FAIL').map((c) => [c.name, c.code]), [['certificates', 'CERTS_MISSING']]);
});

test('doctor with a book peer nobody answers for: FAIL with PEER_UNREACHABLE for that peer, exit 1', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  const b = await net.add('beta', { serve: false });
  await writeCrl(net.ca, a.home);
  const port = await closedPort();
  notePeer(a, b, port);
  const r = await runCli(t, ['doctor', '--home', a.home.root, '--port', '0']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  const got = lines(r);
  assert.deepEqual(got.filter((l) => l.status === 'FAIL').map((l) => l.text.split(':')[0]), [`peer beta at 127.0.0.1`]);
  assert.match(got.at(-1)!.text, new RegExp(`^peer beta at 127\\.0\\.0\\.1:${port}: PEER_UNREACHABLE: .+ — \\S`));

  const json = await runCli(t, ['doctor', '--home', a.home.root, '--port', '0', '--json']);
  const peer = (JSON.parse(json.stdout) as { checks: JsonCheck[] }).checks.find((c) => c.name === `peer:${b.node.creds.nodeId}`);
  assert.deepEqual([peer?.status, peer?.code], ['FAIL', 'PEER_UNREACHABLE']);
});

test('doctor with a node certificate that ends in 10 days: WARN with the days and how to renew, exit 0', async (t) => {
  const net = await makeNetwork(t);
  const home = await makeHome(join(net.dir, 'short'), net.ca, { name: 'short', validityDays: 10 });
  await writeCrl(net.ca, home);
  const r = await runCli(t, ['doctor', '--home', home.root, '--port', '0']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const got = lines(r);
  assert.ok(!got.some((l) => l.status === 'FAIL'), r.stdout);
  const expiry = got[3]!;
  assert.equal(expiry.status, 'WARN');
  assert.match(expiry.text, /^the node certificate expires in (9|10) days \(\d{4}-\d\d-\d\d\) — Get a new certificate before then: `p2pfx invite` on the CA machine/);
  assert.equal(got[4]!.status, 'OK', 'the CA certificate has years left');
  assert.match(r.stdout, /^WARN +the peer book is empty/m);
});

test('doctor when another program holds the API port: FAIL with PORT_IN_USE and how to serve elsewhere', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  await writeCrl(net.ca, a.home);
  // Accepts and hangs up at once: not a node of this network.
  const squatter = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const port = (squatter.address() as { port: number }).port;
  const json = await runCli(t, ['doctor', '--home', a.home.root, '--port', String(port), '--json']);
  assert.equal(json.code, 1, json.stderr);
  const check = (JSON.parse(json.stdout) as { checks: JsonCheck[] }).checks.find((c) => c.name === 'port')!;
  assert.deepEqual([check.status, check.code], ['FAIL', 'PORT_IN_USE']);
  assert.match(check.detail, new RegExp(`^API port ${port} is in use by a program that does not answer as a node of this network`));
  assert.match(check.hint!, /p2pfx serve --port N/);
});
