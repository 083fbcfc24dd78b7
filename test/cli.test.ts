// The CLI as a user meets it: the built binary in a child process, a fresh home per test.
// Every failure must be `error CODE: message` + a hint, exit 1 (2 for usage), no stack, and
// leave nothing half-written.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  assertCliError, assertNoStack, assertNothingWritten, cliNetwork, closedPort, hasScript, listFiles, NO_SCRIPT, repoRoot, runCli,
  sha256File, startCli, startServe, storedChunks, tempHome, type CliResult, type ServingNode,
} from './helpers/cli.js';

const ESC = '\u001b';
const RLO = '\u202e';
/** Colours the terminal red, sets its title, and reverses what follows (shows as `…gpj.exe`). */
const ESCAPING_NAME = `evil${ESC}[31mred${ESC}]0;title\u0007${RLO}gpj.exe`;

interface SentFile { fileId: string; name: string; size: number; sha256: string | null; chunks: number; sentChunks: number }

async function writeRandom(dir: string, name: string, size: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, randomBytes(size));
  return path;
}

function parseJson<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stdout, got:\n${r.stdout}`);
  return JSON.parse(lines[0]!) as T;
}

async function send(t: TestContext, home: string, file: string, peer: string, extra: string[] = []): Promise<SentFile> {
  return parseJson<SentFile>(await runCli(t, ['send', file, '--home', home, '--peer', peer, '--json', ...extra]));
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Nodes a (CA) and b (bundle from a), b serving on 127.0.0.1. */
async function servingPair(t: TestContext): Promise<{ dir: string; a: string; b: ServingNode; issue(name: string): Promise<string> }> {
  const net = await cliNetwork(t);
  return { dir: net.dir, a: net.a, b: await startServe(t, net.b), issue: net.issue };
}

// ---------------------------------------------------------------- usage

test('--version prints the version of package.json and exits 0', async (t) => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCli(t, [flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('--help exits 0 and lists the commands', async (t) => {
  const r = await runCli(t, ['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const command of ['certs', 'serve', 'send', 'get', 'files', 'chunks', 'id', 'menu']) {
    assert.match(r.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help should list ${command}`);
  }
  for (const option of ['--home', '--json', '--debug']) assert.ok(r.stdout.includes(option), `--help should show ${option}`);
  const sub = await runCli(t, ['send', '--help']);
  assert.equal(sub.code, 0, sub.stderr);
  for (const option of ['--peer', '--password', '--chunk-size']) assert.ok(sub.stdout.includes(option), `send --help should show ${option}`);
});

test('usage errors exit 2 with a readable message and no stack', async (t) => {
  const cases: Array<{ args: string[]; says: RegExp }> = [
    { args: ['bogus'], says: /unknown command 'bogus'/ },
    { args: ['--bogus'], says: /unknown option '--bogus'/ },
    { args: ['send', '--bogus', 'x'], says: /unknown option '--bogus'/ },
    { args: ['send'], says: /missing required argument/ },
    { args: ['get', 'x', '--peer'], says: /argument missing/ },
  ];
  for (const c of cases) {
    const home = await tempHome(t);
    const r = await runCli(t, ['--home', home, ...c.args]);
    assert.equal(r.code, 2, `p2pfx ${c.args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, c.says);
    assert.match(r.stderr, /--help/, 'points to --help');
    assertNoStack(r);
    assert.deepEqual(await readdir(home), [], `p2pfx ${c.args.join(' ')} wrote into the home`);
  }
});

test('--debug adds the stack to an error; --json prints the error as JSON', async (t) => {
  const { a } = await cliNetwork(t);
  const debug = await runCli(t, ['send', 'no-such-file', '--home', a, '--peer', '127.0.0.1:1', '--debug']);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /^error FILE_NOT_FOUND: /m);
  assert.match(debug.stderr, /^\s+at /m, '--debug shows where it failed');
  const json = await runCli(t, ['send', 'no-such-file', '--home', a, '--peer', '127.0.0.1:1', '--json']);
  assert.equal(json.code, 1);
  assert.equal(json.stdout, '');
  const body = JSON.parse(json.stderr.trim()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'FILE_NOT_FOUND');
  assert.match(body.error.message, /no-such-file/);
});

// ---------------------------------------------------------------- certs

test('certs creates the CA and this node\'s certificate, keys 0600', async (t) => {
  const home = await tempHome(t);
  const r = await runCli(t, ['certs', '--home', home]);
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  const certs = join(home, 'certs');
  assert.deepEqual((await readdir(certs)).sort(), ['ca-cert.pem', 'ca-key.pem', 'crl.pem', 'node-cert.pem', 'node-key.pem']);
  assert.equal(await mode(join(certs, 'ca-key.pem')), 0o600);
  assert.equal(await mode(join(certs, 'node-key.pem')), 0o600);
  const ca = new X509Certificate(await readFile(join(certs, 'ca-cert.pem')));
  const node = new X509Certificate(await readFile(join(certs, 'node-cert.pem')));
  assert.ok(node.checkIssued(ca) && node.verify(ca.publicKey), 'the node certificate is signed by the CA');
  assert.match(node.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(r.stdout, /ca-key\.pem/);
  // The next step is an invite, not copying key files by hand.
  assert.match(r.stdout, /^Next: to add a machine, run `p2pfx invite` here: it prints a one-time code and the `p2pfx join` command to type on that machine\.$/m);
});

test('certs again refuses with CERTS_EXIST and changes nothing; --force replaces the node certificate', async (t) => {
  const home = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', home])).code, 0);
  const nodeCert = join(home, 'certs', 'node-cert.pem');
  const before = await readFile(nodeCert, 'utf8');
  const again = await runCli(t, ['certs', '--home', home]);
  const message = assertCliError(again, 'CERTS_EXIST');
  assert.ok(message.includes('node-cert.pem'), message);
  assert.match(again.stderr, /--force/);
  assert.equal(await readFile(nodeCert, 'utf8'), before, 'untouched after CERTS_EXIST');

  const forced = await runCli(t, ['certs', '--home', home, '--force', '--json']);
  const out = parseJson<{ nodeId: string; home: string }>(forced);
  assert.notEqual(await readFile(nodeCert, 'utf8'), before, '--force made a new certificate');
  assert.equal(await mode(join(home, 'certs', 'node-key.pem')), 0o600);
  const id = await runCli(t, ['id', '--home', home]);
  assert.equal(id.code, 0, id.stderr);
  assert.equal(id.stdout.trim(), out.nodeId);
});

test('certs issue writes a bundle with the CA certificate and no CA key', async (t) => {
  const home = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', home])).code, 0);
  const out = join(home, 'beta-bundle');
  const r = await runCli(t, ['certs', 'issue', 'beta', '--ip', '127.0.0.1', '--out', out, '--home', home]);
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.deepEqual((await readdir(join(out, 'certs'))).sort(), ['ca-cert.pem', 'crl.pem', 'node-cert.pem', 'node-key.pem']);
  assert.equal(await mode(join(out, 'certs', 'node-key.pem')), 0o600);
  assert.equal(await readFile(join(out, 'certs', 'ca-cert.pem'), 'utf8'), await readFile(join(home, 'certs', 'ca-cert.pem'), 'utf8'));
  const cert = new X509Certificate(await readFile(join(out, 'certs', 'node-cert.pem')));
  assert.match(cert.subject, /CN=beta/);
  // The bundle is a working home.
  const id = await runCli(t, ['id', '--home', out]);
  assert.equal(id.code, 0, id.stderr);
});

test('certs issue puts the --ip and --dns given into the certificate', async (t) => {
  const home = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', home])).code, 0);
  const out = join(home, 'delta');
  const r = await runCli(t, ['certs', 'issue', 'delta', '--ip', '10.1.2.3', '--ip', '192.168.7.9', '--dns', 'delta.lan', '--out', out, '--home', home]);
  assert.equal(r.code, 0, r.stderr);
  const san = new X509Certificate(await readFile(join(out, 'certs', 'node-cert.pem'))).subjectAltName ?? '';
  assert.match(san, /IP Address:10\.1\.2\.3/, `SAN: ${san}`);
  assert.match(san, /IP Address:192\.168\.7\.9/, `SAN: ${san}`);
  assert.match(san, /DNS:delta\.lan/, `SAN: ${san}`);
});

test('certs issue refuses to overwrite a bundle, and --force replaces it', async (t) => {
  const home = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', home])).code, 0);
  const out = join(home, 'beta');
  assert.equal((await runCli(t, ['certs', 'issue', 'beta', '--out', out, '--home', home])).code, 0);
  const before = await readFile(join(out, 'certs', 'node-cert.pem'), 'utf8');
  assertCliError(await runCli(t, ['certs', 'issue', 'beta', '--out', out, '--home', home]), 'CERTS_EXIST');
  assert.equal(await readFile(join(out, 'certs', 'node-cert.pem'), 'utf8'), before);
  const forced = await runCli(t, ['certs', 'issue', 'beta', '--out', out, '--force', '--home', home]);
  assert.equal(forced.code, 0, `certs issue --force: ${forced.stderr}`);
  assert.notEqual(await readFile(join(out, 'certs', 'node-cert.pem'), 'utf8'), before);
});

test('certs issue without the CA key: CA_KEY_MISSING, nothing written', async (t) => {
  const net = await cliNetwork(t);
  for (const home of [await tempHome(t), net.b]) {
    const out = join(net.dir, `out-${randomBytes(4).toString('hex')}`);
    const before = await listFiles(home);
    const r = await runCli(t, ['certs', 'issue', 'gamma', '--out', out, '--home', home]);
    assertCliError(r, 'CA_KEY_MISSING');
    assert.match(r.stderr, /hint: .*p2pfx certs/);
    assert.deepEqual(await listFiles(out), [], 'no bundle written');
    assert.deepEqual(await listFiles(home), before, 'the home is untouched');
  }
});

test('certs issue --ip not-an-ip: INVALID_ARGUMENT, no bundle', async (t) => {
  const home = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', home])).code, 0);
  const out = join(home, 'gamma');
  const r = await runCli(t, ['certs', 'issue', 'gamma', '--ip', 'not-an-ip', '--out', out, '--home', home]);
  const message = assertCliError(r, 'INVALID_ARGUMENT');
  assert.match(message, /not-an-ip/);
  assert.deepEqual(await listFiles(out), []);
});

test('certs --ip not-an-ip: INVALID_ARGUMENT, no node certificate', async (t) => {
  const home = await tempHome(t);
  const r = await runCli(t, ['certs', '--ip', 'not-an-ip', '--home', home]);
  assert.match(assertCliError(r, 'INVALID_ARGUMENT'), /not-an-ip/);
  const files = await listFiles(home);
  assert.ok(!files.includes('certs/node-cert.pem') && !files.includes('certs/node-key.pem'), `files: ${files.join(', ')}`);
});

test('certs --ip not-an-ip in a fresh home leaves no CA behind either', async (t) => {
  const home = await tempHome(t);
  assertCliError(await runCli(t, ['certs', '--ip', 'not-an-ip', '--home', home]), 'INVALID_ARGUMENT');
  assert.deepEqual(await listFiles(home), [], 'arguments are checked before anything is written');
});

// ---------------------------------------------------------------- missing certificates

test('every command that needs certificates says CERTS_MISSING in an empty home, and creates nothing', async (t) => {
  const file = join(await tempHome(t), 'f.bin');
  await writeFile(file, 'x');
  const commands: string[][] = [
    ['serve', '--host', '127.0.0.1', '--port', '0'],
    ['send', file, '--peer', '127.0.0.1:1'],
    ['get', '0123456789abcdef0123456789abcdef', '--peer', '127.0.0.1:1'],
    ['files', '--peer', '127.0.0.1:1'],
    ['chunks'],
    ['chunks', '--peer', '127.0.0.1:1'],
    ['id'],
    ['du'],
    ['rm', 'report.pdf'],
    ['prune'],
    ['menu'],
  ];
  for (const args of commands) {
    await t.test(args[0] + (args.includes('--peer') && args[0] === 'chunks' ? ' --peer' : ''), async (t) => {
      const home = await tempHome(t);
      const r = await runCli(t, ['--home', home, ...args], { input: '0\n127.0.0.1\n1\n\n5\n' });
      const message = assertCliError(r, 'CERTS_MISSING');
      assert.ok(message.includes(`the p2pfx home ${home} holds no node certificate (missing ${join(home, 'certs')}`), `names the home and the missing file: ${message}`);
      // The three ways out: another home, joining, or a new network.
      assert.match(r.stderr, /hint: .*--home DIR.*`p2pfx join HOST CODE`.*`p2pfx certs`/);
      assert.deepEqual(await readdir(home), [], `${args[0]} created something in the home`);
    });
  }
});

// ---------------------------------------------------------------- the full flow

test('send, files, get through the binary: same SHA-256, never overwriting (NAME (1).ext)', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const file = await writeRandom(dir, 'data.bin', 300_000);
  const expected = await sha256File(file);

  const sent = await send(t, a, file, b.peer, ['--password', 'pw', '--chunk-size', '64K']);
  assert.equal(sent.name, 'data.bin');
  assert.equal(sent.size, 300_000);
  assert.equal(sent.sha256, null, 'format v2: no whole-file SHA-256 on the send path');
  assert.equal(sent.chunks, 5);
  assert.equal(sent.sentChunks, 5);

  const listing = parseJson<{ peerNodeId: string; files: Array<{ fileId: string; name: string | null; size: number; access: string }> }>(
    await runCli(t, ['files', '--home', a, '--peer', b.peer, '--json']));
  assert.equal(listing.peerNodeId, b.nodeId);
  assert.deepEqual(listing.files.map((f) => [f.fileId, f.name, f.size, f.access]), [[sent.fileId, 'data.bin', 300_000, 'key']]);
  const text = await runCli(t, ['files', '--home', a, '--peer', b.peer]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`${sent.fileId}.*data\\.bin`));

  const received = join(a, 'received');
  const first = await runCli(t, ['get', 'data.bin', '--home', a, '--peer', b.peer]);
  assert.equal(first.code, 0, first.stderr);
  assertNoStack(first);
  assert.match(first.stdout, /Received data\.bin/);
  assert.deepEqual(await readdir(received), ['data.bin']);
  assert.equal(await sha256File(join(received, 'data.bin')), expected);

  // The same file again: already here, unchanged since it was received, so nothing is written.
  const second = parseJson<{ path: string; alreadyHere: boolean; fetchedChunks: number }>(
    await runCli(t, ['get', sent.fileId, '--home', a, '--peer', b.peer, '--json']));
  assert.deepEqual([second.path, second.alreadyHere, second.fetchedChunks], [join(received, 'data.bin'), true, 0]);
  const again = await runCli(t, ['get', 'data.bin', '--home', a, '--peer', b.peer]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, `Already here: ${join(received, 'data.bin')} is file ${sent.fileId}, unchanged since it was received; nothing written.\n`);
  assert.deepEqual(await readdir(received), ['data.bin']);

  // Edited here since: the download never overwrites it; it lands beside it.
  await appendFile(join(received, 'data.bin'), 'my own line\n');
  const third = parseJson<{ path: string; alreadyHere: boolean; localChunks: number }>(
    await runCli(t, ['get', sent.fileId, '--home', a, '--peer', b.peer, '--json']));
  assert.equal(third.path, join(received, 'data (1).bin'));
  assert.equal(third.alreadyHere, false);
  assert.equal(third.localChunks, 0, 'a download keeps the file, not a copy of its chunks');
  assert.equal(await sha256File(third.path), expected);
  assert.deepEqual((await readdir(received)).sort(), ['data (1).bin', 'data.bin']);
  await assertNoPart(a);
});

test('files: one row per name and sender, its newest version, saying how many older ones (--all lists them); a folder says how many files; get NAME takes the newest and says so', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const doc = join(dir, 'doc.txt');
  await writeFile(doc, 'first draft\n');
  const v1 = await send(t, a, doc, b.peer);
  await writeFile(doc, 'second draft, longer\n');
  const v2 = await send(t, a, doc, b.peer);
  const album = join(dir, 'Album');
  await mkdir(join(album, 'sub'), { recursive: true });
  for (const name of ['one.txt', 'two.txt', 'sub/three.txt']) await writeFile(join(album, name), name);
  const folder = parseJson<{ fileId: string }>(await runCli(t, ['send', album, '--home', a, '--peer', b.peer, '--json']));

  const listing = await runCli(t, ['files', '--home', a, '--peer', b.peer]);
  assert.equal(listing.code, 0, listing.stderr);
  const rows = listing.stdout.split('\n').filter((l) => l.startsWith('  '));
  assert.equal(rows.length, 2, listing.stdout);
  assert.match(rows.find((r) => r.includes(v2.fileId)) ?? '', /doc\.txt {2}\(\+1 older version; --all lists them\)$/);
  assert.ok(!listing.stdout.includes(v1.fileId), 'the older version is not a row of its own');
  assert.match(rows.find((r) => r.includes(folder.fileId)) ?? '', / {5}3 files .* Album\/$/);
  const all = parseJson<{ files: Array<{ fileId: string }> }>(await runCli(t, ['files', '--home', a, '--peer', b.peer, '--all', '--json']));
  assert.deepEqual(all.files.map((f) => f.fileId).sort(), [v1.fileId, v2.fileId, folder.fileId].sort());

  const got = await runCli(t, ['get', 'doc.txt', '--home', a, '--peer', b.peer, '--out', join(dir, 'out')]);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stderr, new RegExp(`doc\\.txt: the newest of 2 versions from alpha, file ${v2.fileId} `));
  assert.equal(await readFile(join(dir, 'out', 'doc.txt'), 'utf8'), 'second draft, longer\n');
});

test('get of a name without an extension keeps the suffix at the end: README (1)', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const file = await writeRandom(dir, 'README', 5000);
  await send(t, a, file, b.peer);
  assert.equal((await runCli(t, ['get', 'README', '--home', a, '--peer', b.peer])).code, 0);
  await appendFile(join(a, 'received', 'README'), 'edited here\n'); // so the second get does not find it already here
  assert.equal((await runCli(t, ['get', 'README', '--home', a, '--peer', b.peer])).code, 0);
  assert.deepEqual((await readdir(join(a, 'received'))).sort(), ['README', 'README (1)']);
});

// ---------------------------------------------------------------- passwords

/** a sends data.bin to b with --password pw; c (another bundle from a, not serving) will fetch it. */
async function passwordFixture(t: TestContext, password = 'pw') {
  const { dir, a, b, issue } = await servingPair(t);
  const file = await writeRandom(dir, 'data.bin', 150_000);
  const sent = await send(t, a, file, b.peer, ['--password', password, '--chunk-size', '64K']);
  return { b, c: await issue('gamma'), sent: { ...sent, sha256: await sha256File(file) } };
}

test('get with a wrong password: WRONG_PASSWORD naming the file, nothing written', async (t) => {
  const { b, c, sent } = await passwordFixture(t);
  const r = await runCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer, '--password', 'wrong']);
  const message = assertCliError(r, 'WRONG_PASSWORD');
  assert.ok(message.includes(sent.fileId), `names the file: ${message}`);
  await assertNothingWritten(c);
});

test('get without a password and no TTY: PASSWORD_REQUIRED, nothing written', async (t) => {
  const { b, c, sent } = await passwordFixture(t);
  const r = await runCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer]);
  const message = assertCliError(r, 'PASSWORD_REQUIRED');
  assert.ok(message.includes(sent.fileId), `names the file: ${message}`);
  assert.match(r.stderr, /hint: .*--password/);
  await assertNothingWritten(c);
  // Without the password the name is hidden, so it cannot be fetched by name either.
  const byName = await runCli(t, ['get', 'data.bin', '--home', c, '--peer', b.peer]);
  assertCliError(byName, 'MANIFEST_NOT_FOUND');
  assert.match(byName.stderr, /hint: .*--password/);
  await assertNothingWritten(c);
});

test('get with the right password, by id or by name: the same SHA-256', async (t) => {
  const { b, c, sent } = await passwordFixture(t);
  const files = parseJson<{ files: Array<{ fileId: string; name: string | null; access: string }> }>(
    await runCli(t, ['files', '--home', c, '--peer', b.peer, '--json']));
  assert.deepEqual(files.files.map((f) => [f.fileId, f.name, f.access]), [[sent.fileId, null, 'password']], 'name hidden without the password');
  const r = parseJson<{ path: string; sha256: string }>(await runCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer, '--password', 'pw', '--json']));
  assert.equal(r.path, join(c, 'received', 'data.bin'));
  assert.equal(await sha256File(r.path), sent.sha256);
  const other = join(c, 'other');
  const byName = await runCli(t, ['get', 'data.bin', '--home', c, '--peer', b.peer, '--password', 'pw', '--out', other]);
  assert.equal(byName.code, 0, byName.stderr);
  assert.equal(await sha256File(join(other, 'data.bin')), sent.sha256);
});

test('the password can come from $P2PFX_PASSWORD', async (t) => {
  const { b, c, sent } = await passwordFixture(t);
  const r = await runCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer], { env: { P2PFX_PASSWORD: 'pw' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sha256File(join(c, 'received', 'data.bin')), sent.sha256);
  const wrong = await runCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer], { env: { P2PFX_PASSWORD: 'nope' } });
  assertCliError(wrong, 'WRONG_PASSWORD');
  assert.deepEqual(await readdir(join(c, 'received')), ['data.bin']);
});

test('get on a terminal asks for the password, without echoing it', { skip: hasScript() ? false : NO_SCRIPT }, async (t) => {
  const { b, c, sent } = await passwordFixture(t, 'Tr0ub4dor&3');
  const get = startCli(t, ['get', sent.fileId, '--home', c, '--peer', b.peer], { tty: true });
  await get.waitFor(new RegExp(`Password for ${sent.fileId}: $`));
  const mark = get.stdout().length;
  get.write('Tr0ub4dor&3\r');
  const r = await get.exit();
  assert.equal(r.code, 0, r.stdout);
  assert.doesNotMatch(r.stdout.slice(mark), /Tr0ub4dor/, `the password was echoed:\n${r.stdout}`);
  assert.match(r.stdout, /Received data\.bin/);
  assert.equal(await sha256File(join(c, 'received', 'data.bin')), sent.sha256);
});

// ---------------------------------------------------------------- send's own errors

test('send: FILE_NOT_FOUND, NOT_A_FILE, bad --chunk-size, INVALID_PEER, no --peer; the peer gets nothing', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const file = await writeRandom(dir, 'ok.bin', 1000);
  const cases: Array<{ args: string[]; code: string; says?: RegExp }> = [
    { args: ['send', join(dir, 'missing-file'), '--peer', b.peer], code: 'FILE_NOT_FOUND', says: /missing-file/ },
    { args: ['send', '/dev/null', '--peer', b.peer], code: 'NOT_A_FILE' },
    { args: ['send', file, '--peer', b.peer, '--chunk-size', '12'], code: 'INVALID_ARGUMENT', says: /chunk size/ },
    { args: ['send', file, '--peer', b.peer, '--chunk-size', 'lots'], code: 'INVALID_ARGUMENT' },
    { args: ['send', file, '--peer', b.peer, '--concurrency', '0'], code: 'INVALID_ARGUMENT', says: /--concurrency/ },
    { args: ['send', file, '--peer', 'bad host!'], code: 'INVALID_PEER', says: /bad host!/ },
    { args: ['send', file, '--peer', '127.0.0.1:99999'], code: 'INVALID_PEER' },
    { args: ['send', file], code: 'INVALID_PEER', says: /no --peer given and the peer book is empty/ },
  ];
  for (const c of cases) {
    const r = await runCli(t, ['--home', a, ...c.args]);
    const message = assertCliError(r, c.code);
    if (c.says) assert.match(message, c.says);
  }
  assert.deepEqual(await storedChunks(b.home), [], 'no chunk reached the peer');
  const files = parseJson<{ files: unknown[] }>(await runCli(t, ['files', '--home', a, '--peer', b.peer, '--json']));
  assert.deepEqual(files.files, []);
});

test('get: an unknown name or id is MANIFEST_NOT_FOUND, nothing written', async (t) => {
  const { a, b } = await servingPair(t);
  assertCliError(await runCli(t, ['get', 'nothing.txt', '--home', a, '--peer', b.peer]), 'MANIFEST_NOT_FOUND');
  assertCliError(await runCli(t, ['get', 'ffffffffffffffffffffffffffffffff', '--home', a, '--peer', b.peer]), 'MANIFEST_NOT_FOUND');
  await assertNothingWritten(a);
});

test('serve --json tells what it receives, in order: started, progress, stored, then received; in text, who sends and what was stored', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const file = await writeRandom(dir, 'big.bin', 4 * 64 * 1024);
  const mark = b.cli.stdout().length;
  const sent = await send(t, a, file, b.peer, ['--chunk-size', '64K']);
  await b.cli.waitFor(/"event":"received"/, { from: mark });
  const events = b.cli.stdout().slice(mark).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const kinds = events.map((e) => e.event);
  const at = (k: string) => kinds.indexOf(k);
  assert.ok(at('started') >= 0 && at('started') < at('progress') && at('progress') < at('stored') && at('stored') < at('received'), `in order: ${kinds.join(', ')}`);
  const aId = (await runCli(t, ['id', '--home', a])).stdout.trim();
  assert.deepEqual(events[at('started')], { event: 'started', stream: events[at('started')]!.stream, peer: aId, peerName: 'alpha' });
  const stored = events[at('stored')]!;
  assert.deepEqual([stored.chunks, stored.ok, stored.peerName], [sent.chunks, true, 'alpha']);
  assert.equal((events[at('received')] as { fileId?: string }).fileId, sent.fileId);

  // The same in words, for a person at the terminal of a serve without --json.
  const net2 = await cliNetwork(t);
  const text = startCli(t, ['serve', '--home', net2.b, '--host', '127.0.0.1', '--port', '0', '--no-discovery']);
  const [, port] = await text.waitFor(/listening on https:\/\/127\.0\.0\.1:(\d+)/);
  const other = await writeRandom(net2.dir, 'other.bin', 2 * 64 * 1024);
  assert.equal((await runCli(t, ['send', other, '--home', net2.a, '--peer', `127.0.0.1:${port}`, '--chunk-size', '64K'])).code, 0);
  await text.waitFor(/^received other\.bin/m);
  assert.match(text.stdout(), /^receiving from alpha \([0-9A-Z]+\)…$/m);
  assert.match(text.stdout(), /^ {2}alpha \([0-9A-Z]+\): 2 chunks stored \(128 KiB\) in [\d.]+ s$/m);
});

/**
 * a stores a 4-chunk file on b (storage only: b keeps the sealed chunks; a file sent to b itself
 * would stand for its chunks, test/disk-once.test.ts); returns b's chunk files (relative to chunks/).
 */
async function chunkedFixture(t: TestContext) {
  const { dir, a, b } = await servingPair(t);
  const file = await writeRandom(dir, 'big.bin', 4 * 64 * 1024);
  const sent = await send(t, a, file, b.peer, ['--chunk-size', '64K', '--storage-only']);
  const chunks = await storedChunks(b.home);
  assert.equal(chunks.length, sent.chunks);
  return { a, b, sent, chunks };
}

test('get: a chunk missing on the peer is CHUNK_NOT_FOUND naming it; no final file, only a resumable partial', async (t) => {
  const { a, b, sent, chunks } = await chunkedFixture(t);
  await rm(join(b.home, 'chunks', chunks[2]!));
  const r = await runCli(t, ['get', sent.fileId, '--home', a, '--peer', b.peer]);
  const message = assertCliError(r, 'CHUNK_NOT_FOUND');
  assert.ok(message.includes(chunks[2]!.slice(3)), `names the chunk: ${message}`);
  assert.deepEqual(await listFiles(join(a, 'received')), [`.p2pfx-partial/${sent.fileId}.part`]);
});

test('get: a chunk corrupted on the peer is HASH_MISMATCH naming it; nothing written', async (t) => {
  const { a, b, sent, chunks } = await chunkedFixture(t);
  const path = join(b.home, 'chunks', chunks[2]!);
  const bytes = await readFile(path);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await writeFile(path, bytes);
  const r = await runCli(t, ['get', sent.fileId, '--home', a, '--peer', b.peer]);
  const message = assertCliError(r, 'HASH_MISMATCH');
  assert.ok(message.includes(chunks[2]!.slice(3)), `names the chunk: ${message}`);
  await assertNothingWritten(a);
  assert.ok(!(await storedChunks(a)).includes(chunks[2]!), 'the bad chunk is not kept');
});

// ---------------------------------------------------------------- network failures

test('connection refused: PEER_UNREACHABLE naming host and port, for every command with --peer', async (t) => {
  const { dir, a } = await cliNetwork(t);
  const file = await writeRandom(dir, 'f.bin', 1000);
  const port = await closedPort();
  const peer = `127.0.0.1:${port}`;
  for (const args of [['send', file], ['files'], ['get', 'f.bin'], ['get', '0123456789abcdef0123456789abcdef'], ['chunks']]) {
    const r = await runCli(t, [...args, '--home', a, '--peer', peer]);
    const message = assertCliError(r, 'PEER_UNREACHABLE');
    assert.ok(message.includes('127.0.0.1') && message.includes(String(port)), `${args[0]}: names host and port: ${message}`);
    assert.match(r.stderr, /hint: .*p2pfx serve/);
  }
  await assertNothingWritten(a);
});

test('a node of another network: CERT_REJECTED, and the peer keeps nothing', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const stranger = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', stranger])).code, 0);
  const file = await writeRandom(dir, 'f.bin', 1000);
  for (const args of [['files'], ['send', file], ['chunks']]) {
    const r = await runCli(t, [...args, '--home', stranger, '--peer', b.peer]);
    assertCliError(r, 'CERT_REJECTED');
  }
  await assertNothingWritten(stranger);
  assert.deepEqual(await storedChunks(b.home), []);
  // The peer still serves its own network.
  assert.equal((await runCli(t, ['files', '--home', a, '--peer', b.peer])).code, 0);
});

test('a node that trusts the CA but whose certificate the peer refuses: CERT_REJECTED', async (t) => {
  const { a, b } = await servingPair(t);
  const other = await tempHome(t);
  assert.equal((await runCli(t, ['certs', '--home', other])).code, 0);
  // The network's CA certificate, with a node certificate signed by another CA.
  const impostor = await tempHome(t);
  await mkdir(join(impostor, 'certs'));
  await writeFile(join(impostor, 'certs', 'ca-cert.pem'), await readFile(join(a, 'certs', 'ca-cert.pem')));
  await writeFile(join(impostor, 'certs', 'node-cert.pem'), await readFile(join(other, 'certs', 'node-cert.pem')));
  await writeFile(join(impostor, 'certs', 'node-key.pem'), await readFile(join(other, 'certs', 'node-key.pem')), { mode: 0o600 });
  const r = await runCli(t, ['files', '--home', impostor, '--peer', b.peer]);
  assert.match(assertCliError(r, 'CERT_REJECTED'), /refuse/);
});

test('serve: a port in use is PORT_IN_USE; a bad --port is INVALID_ARGUMENT', async (t) => {
  const { a } = await cliNetwork(t);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as { port: number }).port;
  const r = await runCli(t, ['serve', '--home', a, '--host', '127.0.0.1', '--port', String(port)]);
  assert.ok(assertCliError(r, 'PORT_IN_USE').includes(String(port)));
  assert.match(r.stderr, /hint: .*pick another with --port /);
  assertCliError(await runCli(t, ['serve', '--home', a, '--host', '127.0.0.1', '--port', '70000']), 'INVALID_ARGUMENT');
  // The web UI's port is set by --ui-port: the hint names that flag, not --port.
  const ui = await runCli(t, ['ui', '--home', a, '--no-open', '--ui-port', String(port), '--port', '0', '--host', '127.0.0.1', '--no-discovery']);
  assert.equal(assertCliError(ui, 'PORT_IN_USE'), `port ${port} on 127.0.0.1 is already in use`);
  assert.match(ui.stderr, /hint: .*pick another with --ui-port \(or leave --ui-port out where any free port will do\)\./);
});

// ---------------------------------------------------------------- names from elsewhere

async function escapeFixture(t: TestContext) {
  const { dir, a, b, issue } = await servingPair(t);
  const name = ESCAPING_NAME;
  const file = join(dir, name);
  await writeFile(file, 'not red');
  return { a, b, c: await issue('gamma'), file, name };
}

test('a file name with terminal escapes is never printed raw', async (t) => {
  const { a, b, c, file } = await escapeFixture(t);
  const outputs: CliResult[] = [];
  const sent = await runCli(t, ['send', file, '--home', a, '--peer', b.peer, '--password', 'pw']);
  outputs.push(sent);
  const sentJson = await runCli(t, ['send', file, '--home', a, '--peer', b.peer, '--password', 'pw', '--json']);
  const filesJson = await runCli(t, ['files', '--home', a, '--peer', b.peer, '--json']);
  const json = new Set([sentJson, filesJson]);
  outputs.push(sentJson, filesJson);
  outputs.push(await runCli(t, ['files', '--home', a, '--peer', b.peer]));
  outputs.push(await runCli(t, ['files', '--home', c, '--peer', b.peer, '--password', 'pw']));
  outputs.push(await runCli(t, ['get', ESCAPING_NAME, '--home', a, '--peer', b.peer]));
  if (sentJson.code === 0) {
    const { fileId } = JSON.parse(sentJson.stdout) as { fileId: string };
    outputs.push(await runCli(t, ['get', fileId, '--home', a, '--peer', b.peer]));
    outputs.push(await runCli(t, ['get', fileId, '--home', c, '--peer', b.peer, '--password', 'pw']));
  }
  outputs.push(await runCli(t, ['send', join(file, 'x'), '--home', a, '--peer', b.peer]));
  for (const r of outputs) {
    assert.ok(!r.stdout.includes(ESC) && !r.stderr.includes(ESC), `raw ESC printed:\n${JSON.stringify(r)}`);
    assert.ok(!r.stdout.includes('\u0007') && !r.stderr.includes('\u0007'), `raw BEL printed:\n${JSON.stringify(r)}`);
    // JSON escapes control characters but not U+202E; --json output is for programs, text for people.
    if (!json.has(r)) assert.ok(!r.stdout.includes(RLO), `raw right-to-left override printed:\n${JSON.stringify(r)}`);
    assert.ok(!r.stderr.includes(RLO), `raw right-to-left override printed:\n${JSON.stringify(r)}`);
    assertNoStack(r);
  }
  assert.match(sent.stdout + sent.stderr, /\\(x1b|u001b)/, 'the escape is shown escaped');
  for (const home of [a, c]) {
    for (const f of await listFiles(join(home, 'received'))) assert.doesNotMatch(f, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/, `unsafe name written: ${JSON.stringify(f)}`);
    await assertNoPart(home);
  }
});

test('a file whose name receivers would refuse is refused at send, before anything moves', async (t) => {
  const { a, b, file } = await escapeFixture(t);
  const sent = await runCli(t, ['send', file, '--home', a, '--peer', b.peer, '--password', 'pw']);
  assertCliError(sent, 'INVALID_ARGUMENT');
  assert.match(sent.stderr, /Rename the file/);
  assert.deepEqual(await storedChunks(b.home), []);
});

// ---------------------------------------------------------------- chunks

test('chunks: none on a fresh node; after a send, --peer lists the peer\'s chunks; --json parses', async (t) => {
  const { dir, a, b } = await servingPair(t);
  const empty = await runCli(t, ['chunks', '--home', a]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^No chunks on this node/m);
  const emptyJson = parseJson<{ chunks: unknown[] }>(await runCli(t, ['chunks', '--home', a, '--json']));
  assert.deepEqual(emptyJson.chunks, []);
  const peerEmpty = await runCli(t, ['chunks', '--home', a, '--peer', b.peer]);
  assert.equal(peerEmpty.code, 0, peerEmpty.stderr);
  assert.match(peerEmpty.stdout, /^No chunks on peer 127\.0\.0\.1/m);

  const file = await writeRandom(dir, 'c.bin', 3 * 4096 + 10);
  const sent = await send(t, a, file, b.peer, ['--chunk-size', '4K', '--storage-only']);
  assert.equal(sent.chunks, 4);
  const onDisk = (await storedChunks(b.home)).map((f) => f.slice(3)).sort();
  const text = await runCli(t, ['chunks', '--home', a, '--peer', b.peer]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^4 chunks on peer ${b.peer.replace(/\./g, '\\.')}`, 'm'));
  for (const id of onDisk) assert.ok(text.stdout.includes(id), `lists ${id}`);
  const json = parseJson<{ where: string; chunks: Array<{ id: string; size: number }> }>(await runCli(t, ['chunks', '--home', a, '--peer', b.peer, '--json']));
  assert.deepEqual(json.chunks.map((c) => c.id).sort(), onDisk);
  for (const c of json.chunks) {
    assert.match(c.id, /^[0-9a-f]{64}$/);
    assert.ok(c.size > 0);
  }
  const limited = parseJson<{ chunks: unknown[] }>(await runCli(t, ['chunks', '--home', a, '--peer', b.peer, '--json', '--limit', '2']));
  assert.equal(limited.chunks.length, 2);
  assertCliError(await runCli(t, ['chunks', '--home', a, '--limit', 'many']), 'INVALID_ARGUMENT');
});

async function assertNoPart(home: string): Promise<void> {
  assert.deepEqual((await listFiles(home)).filter((f) => f.endsWith('.part')), []);
}
