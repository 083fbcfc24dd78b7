// The guided menu, driven through its input as a user (or a script) would: the original's
// questions (port, peer address, peer port, password; the peer picked from the book when it holds
// any) then 1 send, 2 download, 3 local chunks, 4 the peer's chunks, 5 quit; then 6 this node's
// id and, on the CA machine, 7 invite.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  assertNoStack, cliNetwork, closedPort, hasScript, NO_SCRIPT, runCli, sha256File, startCli, startServe, storedChunks, tempHome, type CliResult,
} from './helpers/cli.js';

const MENU = /1\. Send a file to the peer\n2\. Download a file from the peer\n3\. List local chunks\n4\. List the peer's chunks\n5\. Quit\n6\. Show this node's id\n(?:7\. Invite a new machine[^\n]*\n)?Choice: $/;

/** The four opening answers: a free port for this node, the peer, its port, a password. */
function opening(peerPort: number, password = ''): string {
  return `0\n127.0.0.1\n${peerPort}\n${password}\n`;
}

/** Counts the menus shown: one per choice read. */
function menus(out: string): number {
  return out.split(/6\. Show this node's id\n(?:7\. Invite[^\n]*\n)?Choice: /).length - 1;
}

test('a session: send a file, list the peer\'s chunks, download it, list local chunks, quit', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const home = await net.issue('menu-node');
  const file = join(net.dir, 'report.bin');
  await writeFile(file, randomBytes(200_000));
  const expected = await sha256File(file);

  const menu = startCli(t, ['menu', '--home', home]);
  await menu.waitFor(/Port for this node's server \[8443\]: $/);
  menu.write('0\n');
  await menu.waitFor(/Serving on port \d+\.\n/);
  await menu.waitFor(/Peer address \(IP or host name\): $/);
  menu.write('127.0.0.1\n');
  await menu.waitFor(/Peer port \[8443\]: $/);
  menu.write(`${b.port}\n`);
  await menu.waitFor(/Password for files[^\n]*: $/);
  let mark = menu.stdout().length;
  menu.write('pw\n');

  // Waits for a fresh menu (printed after `since`), then answers it; returns where the answer's output starts.
  const choose = async (choice: string, since: number) => {
    await menu.waitFor(MENU, { from: since });
    const at = menu.stdout().length;
    menu.write(`${choice}\n`);
    return at;
  };

  mark = await choose('1', mark);
  await menu.waitFor(/Path of the file \(or folder\) to send: $/, { from: mark });
  menu.write(`${file}\n`);
  const sent = await menu.waitFor(/Sent report\.bin \(195 KiB, 1 chunks, 1 moved\) to 127\.0\.0\.1:\d+, node ([A-Z0-9-]+)\.\nFile id ([0-9a-f]{32})\n/, { from: mark });
  assert.equal(sent[1], b.nodeId);

  mark = await choose('4', mark);
  const peerChunks = await menu.waitFor(/1 chunk on 127\.0\.0\.1:\d+:\n {2}([0-9a-f]{64}) /, { from: mark });
  assert.deepEqual((await storedChunks(b.home)).map((f) => f.slice(3)), [peerChunks[1]]);

  mark = await choose('2', mark);
  await menu.waitFor(/Files on 127\.0\.0\.1:\d+:\n {2}1\. report\.bin {2}195 KiB\nWhich file \(number, name or id\): $/, { from: mark });
  menu.write('1\n');
  await menu.waitFor(/Received report\.bin \(195 KiB\), SHA-256 verified, saved as (.+)\n/, { from: mark });
  const received = join(home, 'received', 'report.bin');
  assert.ok(menu.stdout().includes(`saved as ${received}`));
  assert.equal(await sha256File(received), expected);

  // A download keeps the file, not a second, encrypted copy of it.
  mark = await choose('3', mark);
  await menu.waitFor(/No chunks on this node\./, { from: mark });

  await choose('5', mark);
  const r = await menu.exit();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Bye\.\n$/);
  assertNoStack(r);
  assert.deepEqual(await readdir(join(home, 'received')), ['report.bin']);
});

test('answers piped ahead all at once are read in order (a script can drive the menu)', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const home = await net.issue('menu-node');
  const file = join(net.dir, 'notes.txt');
  await writeFile(file, 'hello from the menu\n');
  const r = await runCli(t, ['menu', '--home', home], { input: `${opening(b.port)}1\n${file}\n2\n1\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.match(r.stdout, /Sent notes\.txt/);
  assert.match(r.stdout, /Received notes\.txt .* saved as /);
  assert.equal(await sha256File(join(home, 'received', 'notes.txt')), await sha256File(file));
  assert.match(r.stdout, /Bye\.\n$/);
});

test('an unknown choice says so and the menu goes on; a bad peer address is asked again', async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const r = await runCli(t, ['menu', '--home', a], { input: `0\nbad host!\n127.0.0.1\n${port}\n\n9\nsend\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.match(r.stdout, /bad host in peer "bad host!"/);
  assert.equal(r.stdout.split('Peer address (IP or host name): ').length - 1, 2, 'the address is asked again');
  assert.match(r.stdout, /Unknown choice "9": type a number from 1 to 7\./, "on the CA machine, 7 (invite) is a choice");
  assert.match(r.stdout, /Unknown choice "send": type a number from 1 to 7\./);
  assert.equal(menus(r.stdout), 3, 'the menu is shown again after each unknown choice');
  assert.match(r.stdout, /Bye\.\n$/);
});

test('a peer where nothing listens: error PEER_UNREACHABLE with a hint, and the menu goes on to quit cleanly', async (t) => {
  const { dir, a } = await cliNetwork(t);
  const port = await closedPort();
  const file = join(dir, 'f.bin');
  await writeFile(file, 'data');
  const r = await runCli(t, ['menu', '--home', a], { input: `${opening(port)}4\n1\n${file}\n2\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  const errors = r.stdout.match(/error PEER_UNREACHABLE: .*$/gm) ?? [];
  assert.equal(errors.length, 3, `one error per choice that needs the peer:\n${r.stdout}`);
  for (const e of errors) assert.ok(e.includes(`127.0.0.1:${port}`), e);
  assert.equal((r.stdout.match(/^\s+hint: .*p2pfx serve/gm) ?? []).length, 3);
  assert.equal(menus(r.stdout), 4);
  assert.match(r.stdout, /Bye\.\n$/);
  assert.deepEqual(await readdir(join(a, 'received')), []);
});

test('a missing file to send is reported and the menu goes on', async (t) => {
  const { dir, a } = await cliNetwork(t);
  const port = await closedPort();
  const r = await runCli(t, ['menu', '--home', a], { input: `${opening(port)}1\n${join(dir, 'nope.bin')}\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Path of the file \(or folder\) to send: error FILE_NOT_FOUND: .*nope\.bin"?$/m);
  assert.match(r.stdout, /^\s+hint: /m);
  assert.match(r.stdout, /Bye\.\n$/);
});

/** A menu node whose peer book holds beta and gamma (both serving), and a file to send. */
async function bookNetwork(t: TestContext) {
  const net = await cliNetwork(t);
  const home = await net.issue('menu-node');
  const beta = await startServe(t, net.b);
  const gamma = await startServe(t, await net.issue('gamma'));
  for (const p of [beta, gamma]) {
    const added = await runCli(t, ['peers', 'add', p.peer, '--home', home]);
    assert.equal(added.code, 0, added.stderr);
  }
  const file = join(net.dir, 'notes.txt');
  await writeFile(file, 'hello from the menu\n');
  return { net, home, beta, gamma, file };
}

test('with a peer book, the menu lists it and takes a number, a name, HOST:PORT (no port question) or a host and then its port', async (t) => {
  const { home, beta, gamma, file } = await bookNetwork(t);
  const cases = [
    { answers: '2\n', to: gamma, how: 'by number' },
    { answers: 'beta\n', to: beta, how: 'by name' },
    { answers: `127.0.0.1:${gamma.port}\n`, to: gamma, how: 'by HOST:PORT' },
    { answers: `127.0.0.1\n${beta.port}\n`, to: beta, how: 'by host, then port' },
  ];
  for (const c of cases) {
    const r = await runCli(t, ['menu', '--home', home], { input: `0\n${c.answers}\n1\n${file}\n5\n` });
    assert.equal(r.code, 0, `${c.how}: ${r.stderr}`);
    assertNoStack(r);
    const list = /Peers in the book:\n {2}1\. beta {2}127\.0\.0\.1:(\d+) {2}node ([A-Z2-7]{7})\n {2}2\. gamma {2}127\.0\.0\.1:(\d+) {2}node ([A-Z2-7]{7})\nPeer \(number or name from the list, or an address\): /.exec(r.stdout);
    assert.ok(list, `${c.how}: the book is listed before the question\n${r.stdout}`);
    assert.deepEqual(list.slice(1), [String(beta.port), beta.nodeId.slice(0, 7), String(gamma.port), gamma.nodeId.slice(0, 7)]);
    assert.doesNotMatch(r.stdout, /Peer address \(IP or host name\)/, c.how);
    assert.equal(r.stdout.split('Peer port [8443]: ').length - 1, c.how === 'by host, then port' ? 1 : 0, `${c.how}: the port is asked only after a bare host`);
    assert.match(r.stdout, new RegExp(`Sent notes\\.txt \\(\\d+ B, 1 chunks, \\d+ moved\\) to 127\\.0\\.0\\.1:${c.to.port}, node ${c.to.nodeId}\\.`), `${c.how}\n${r.stdout}`);
    assert.match(r.stdout, /Bye\.\n$/);
  }
});

test('with a peer book, a number not listed or a bad address is asked again; an unknown name is taken as a host, and said so', async (t) => {
  const { home, beta } = await bookNetwork(t);
  const r = await runCli(t, ['menu', '--home', home], { input: `0\n3\n0\nbad host!\nbetta\n${beta.port}\n\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.match(r.stdout, /no peer numbered 3 in the list\. Type a number from 1 to 2, a name from the list, or an address \(HOST or HOST:PORT\)\./);
  assert.match(r.stdout, /no peer numbered 0 in the list\./);
  assert.match(r.stdout, /bad host in peer "bad host!"/);
  assert.equal(r.stdout.split('Peer (number or name from the list, or an address): ').length - 1, 4, 'asked until an answer names a peer');
  assert.match(r.stdout, /No peer named "betta" in the book: taken as a host name\.\nPeer port \[8443\]: /);
  assert.match(r.stdout, /Bye\.\n$/);
});

test('without a peer book, HOST:PORT at the address question is taken whole: the port is not asked again', async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const r = await runCli(t, ['menu', '--home', a], { input: `0\n127.0.0.1:${port}\n\n4\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.doesNotMatch(r.stdout, /Peers in the book|Peer port/);
  assert.match(r.stdout, new RegExp(`error PEER_UNREACHABLE: .*127\\.0\\.0\\.1:${port}`), 'the typed port is the one used');
  assert.match(r.stdout, /Bye\.\n$/);
});

test('paths as typed or dragged into a terminal (quoted, under ~, with escaped spaces) are each sent', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const home = await net.issue('menu-node');
  // The menu's $HOME, so that ~ has a known meaning; its name has a space of its own.
  const userHome = join(net.dir, 'user home');
  await mkdir(join(userHome, 'docs'), { recursive: true });
  const files = [
    { path: join(net.dir, 'My File (1).pdf'), typed: (p: string) => `'${p}' ` }, // GNOME Terminal, Konsole
    { path: join(net.dir, 'y z.txt'), typed: (p: string) => `"${p}"` },
    { path: join(userHome, 'docs', 'in home.txt'), typed: () => '~/docs/in home.txt' },
    { path: join(net.dir, "it's a & b.txt"), typed: (p: string) => p.replace(/([ '&])/g, '\\$1') }, // macOS Terminal, iTerm
  ];
  for (const f of files) await writeFile(f.path, randomBytes(5000));
  const input = `${opening(b.port)}${files.map((f) => `1\n${f.typed(f.path)}\n`).join('')}5\n`;
  const r = await runCli(t, ['menu', '--home', home], { input, env: { HOME: userHome } });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.doesNotMatch(r.stdout, /error /);
  const sent = [...r.stdout.matchAll(/to send: Sent (.+?) \(4\.9 KiB, 1 chunks, 1 moved\) to /g)].map((m) => m[1]);
  assert.deepEqual(sent, files.map((f) => basename(f.path)), 'each file sent, in order');
  // What arrived on the peer is each file itself.
  for (const f of files) {
    const name = basename(f.path);
    await b.cli.waitFor(new RegExp(`"name":${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const event = b.cli.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { event?: string; name?: string; path?: string })
      .find((e) => e.event === 'received' && e.name === name);
    assert.ok(event?.path, `${name} received`);
    assert.equal(await sha256File(event.path), await sha256File(f.path), name);
  }
});

test('end of input ends the menu cleanly, at the menu or in the middle of a question', async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  for (const input of [opening(port), `${opening(port)}1\n`, `${opening(port)}2\n`, '0\n127.0.0.1\n']) {
    const r = await runCli(t, ['menu', '--home', a], { input });
    assert.equal(r.code, 0, `input ${JSON.stringify(input)}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assertNoStack(r);
    assert.doesNotMatch(r.stderr, /error /, `input ${JSON.stringify(input)}: ${r.stderr}`);
  }
  // Stopped at the menu: it says goodbye.
  const atMenu = await runCli(t, ['menu', '--home', a], { input: opening(port) });
  assert.match(atMenu.stdout, /Choice: Bye\.\n$/);
});

test('the menu does not stay alive once stdin is closed while it waits', async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const menu = startCli(t, ['menu', '--home', a]);
  menu.write(opening(port));
  await menu.waitFor(MENU);
  menu.child.stdin.end();
  const r = await menu.exit();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Bye\.\n$/);
});

// ---------------------------------------------------------------- on a terminal

/** Feeds `input` to p2pfx on a pseudo-terminal and waits for it to end. */
async function runOnTty(t: TestContext, args: string[], opts: { cwd: string; input: string }): Promise<CliResult> {
  const cli = startCli(t, args, { cwd: opts.cwd, tty: true });
  cli.write(opts.input);
  cli.child.stdin.end();
  return cli.exit();
}

const ttyOnly = { skip: hasScript() ? false : NO_SCRIPT };

test('p2pfx with no arguments on a terminal opens the menu', ttyOnly, async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  // A home in the current folder (the old default) is still found when --home is not given, and said.
  const r = await runOnTty(t, [], { cwd: a, input: `${opening(port)}3\n5\n` });
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /note: using the p2pfx home in the current folder /);
  assert.match(r.stdout, /Port for this node's server \[8443\]: /);
  assert.match(r.stdout, /Serving on port \d+\./);
  assert.match(r.stdout, /No chunks on this node\./);
  assert.match(r.stdout, /Bye\./);
  assert.doesNotMatch(r.stdout, /Usage: p2pfx/);
});

test('p2pfx --home H (global options only) on a terminal opens the menu too', ttyOnly, async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const r = await runOnTty(t, ['--home', a], { cwd: await tempHome(t), input: `${opening(port)}5\n` });
  assert.equal(r.code, 0, r.stdout);
  assert.doesNotMatch(r.stdout, /Usage: p2pfx/, 'printed the help instead of opening the menu');
  assert.match(r.stdout, /Port for this node's server/);
  assert.match(r.stdout, /Bye\./);
});

test('on a terminal, the menu\'s password is not echoed', ttyOnly, async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const menu = startCli(t, ['menu', '--home', a], { tty: true });
  // Answer each question once it is asked: typed ahead, the terminal would echo it before p2pfx reads it.
  for (const [question, answer] of [[/Port for this node's server \[8443\]: $/, '0'], [/Peer address \(IP or host name\): $/, '127.0.0.1'], [/Peer port \[8443\]: $/, String(port)]] as const) {
    await menu.waitFor(question);
    menu.write(`${answer}\r`);
  }
  await menu.waitFor(/Password for files[^\n]*: $/);
  const mark = menu.stdout().length;
  menu.write('hunter2-secret\r');
  await menu.waitFor(/Choice: $/, { from: mark });
  menu.write('5\r');
  const r = await menu.exit();
  assert.equal(r.code, 0, r.stdout);
  assert.ok(r.stdout.includes('127.0.0.1'), 'ordinary answers are echoed');
  assert.ok(!r.stdout.includes('hunter2'), `the password was echoed:\n${r.stdout}`);
  assert.match(r.stdout, /Bye\./);
});

test('on a terminal, Ctrl-C while the password is typed ends the menu cleanly, the password unseen', ttyOnly, async (t) => {
  const { a } = await cliNetwork(t);
  const port = await closedPort();
  const menu = startCli(t, ['menu', '--home', a], { tty: true });
  for (const [question, answer] of [[/Port for this node's server \[8443\]: $/, '0'], [/Peer address \(IP or host name\): $/, '127.0.0.1'], [/Peer port \[8443\]: $/, String(port)]] as const) {
    await menu.waitFor(question);
    menu.write(`${answer}\r`);
  }
  await menu.waitFor(/Password for files[^\n]*: $/);
  // Backspace edits what is hidden as it would what is shown; Ctrl-C then cancels it all.
  menu.write('half-typed\x7f\x7f\x03');
  const r = await menu.exit();
  assert.equal(r.code, 0, r.stdout);
  assertNoStack(r);
  assert.ok(!r.stdout.includes('half-typ'), `the password was echoed:\n${r.stdout}`);
  assert.match(r.stdout, /Bye\./);
});

test('p2pfx with no arguments and no terminal prints the help and exits 0', async (t) => {
  const home = await tempHome(t);
  const r = await runCli(t, [], { cwd: home, input: '1\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: p2pfx /m);
  assert.match(r.stdout, /^\s+menu\b/m);
  assert.deepEqual(await readdir(home), [], 'no home was set up in the current folder');
  const withHome = await runCli(t, ['--home', home], { input: '1\n' });
  assert.equal(withHome.code, 0, withHome.stderr);
  assert.match(withHome.stdout + withHome.stderr, /Usage: p2pfx /);
  assert.deepEqual(await readdir(home), []);
});

test('6 shows this node\'s id; on the CA machine 7 makes an invite that a new machine joins while the menu runs', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const menu = startCli(t, ['menu', '--home', net.a]);
  menu.write(opening(b.port));
  await menu.waitFor(MENU);
  let mark = menu.stdout().length;
  menu.write('6\n');
  const [, nodeId] = await menu.waitFor(/Node id:\s+([A-Z2-7-]{63})\n/, { from: mark });
  const id = await runCli(t, ['id', '--home', net.a]);
  assert.equal(id.stdout.trim(), nodeId);

  await menu.waitFor(MENU, { from: mark });
  mark = menu.stdout().length;
  menu.write('7\n');
  const [, port, code] = await menu.waitFor(/p2pfx join \S+:(\d+) ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{2})\n/, { from: mark });
  const joiner = join(net.dir, 'newcomer');
  const joined = await runCli(t, ['join', `127.0.0.1:${port}`, code!, '--home', joiner, '--name', 'newcomer', '--json']);
  assert.equal(joined.code, 0, joined.stderr);
  const { nodeId: newId } = JSON.parse(joined.stdout) as { nodeId: string };
  await menu.waitFor(new RegExp(`newcomer joined the network, node id ${newId}`), { from: mark });
  const list = await runCli(t, ['certs', 'list', '--home', net.a]);
  assert.match(list.stdout, new RegExp(`newcomer\\s+${newId}`), 'the CA records the certificate it issued');

  menu.write('5\n');
  const done = await menu.exit();
  assert.equal(done.code, 0, done.stderr);
  assertNoStack(done);
  // Quitting closed the enrollment listener: the code joins nothing any more. (The invite port is
  // the default one, 8444: a test run beside this one may have its own invite listening there,
  // which refuses this code — INVITE_REFUSED — where nothing listening gives PEER_UNREACHABLE.)
  const late = await runCli(t, ['join', `127.0.0.1:${port}`, code!, '--home', join(net.dir, 'late'), '--name', 'late']);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /^error (PEER_UNREACHABLE|INVITE_REFUSED): /m);
  assert.equal(existsSync(join(net.dir, 'late', 'certs', 'node-cert.pem')), false, 'the late machine got no certificate');
});

test('7 is not offered, and not taken, on a machine without the CA key', async (t) => {
  const net = await cliNetwork(t);
  const r = await runCli(t, ['menu', '--home', net.b], { input: `${opening(await closedPort())}7\n5\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /7\. Invite/);
  assert.match(r.stdout, /Unknown choice "7": type a number from 1 to 6\./);
});
