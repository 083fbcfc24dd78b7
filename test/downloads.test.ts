// Where files land (issue 16, DESIGN "Where files land"): `get` into the current folder (--out
// wins); files sent to a serving node into its downloads folder — --downloads, then
// $P2PFX_DOWNLOADS, then `p2pfx config downloads`, then received/ of a home an earlier p2pfx
// filled, then the user's Downloads folder (XDG user-dirs on Linux) + p2pfx. Real processes, temp
// folders; every default is resolved under a temporary HOME, never the machine's own.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseUserDirs, userDownloadsFolder } from '../src/store/downloads.js';
import { assertCliError, cliNetwork, closedPort, runCli, sha256File, startCli, startServe, stopChild, type CliResult, type ServingNode } from './helpers/cli.js';
import { randomFile } from './helpers/network.js';

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A user of its own: HOME, XDG_CONFIG_HOME (with a user-dirs.dirs when given) and no $P2PFX_DOWNLOADS. */
async function user(dir: string, userDirs?: string): Promise<Record<string, string>> {
  const home = join(dir, 'user');
  const config = join(dir, 'config');
  await mkdir(home, { recursive: true });
  await mkdir(config, { recursive: true });
  if (userDirs !== undefined) await writeFile(join(config, 'user-dirs.dirs'), userDirs);
  return { HOME: home, XDG_CONFIG_HOME: config, P2PFX_DOWNLOADS: '' };
}

/** Sends a new file (fresh random bytes) from `from` to the serving node and waits for its `received` event; returns its path there. */
async function sendTo(t: TestContext, from: string, node: ServingNode, dir: string, name: string): Promise<string> {
  return (await sendEvent(t, from, node, dir, name)).path;
}

async function sendEvent(t: TestContext, from: string, node: ServingNode, dir: string, name: string): Promise<{ path: string; updated: boolean }> {
  const file = await randomFile(dir, name, 40_000);
  const mark = node.cli.stdout().length;
  const sent = await runCli(t, ['send', file, '--home', from, '--peer', node.peer, '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  const [line] = await node.cli.waitFor(new RegExp(`^.*"event":"received".*"name":"${name}".*$`, 'm'), { from: mark });
  const event = JSON.parse(line) as { path: string; updated: boolean };
  assert.equal(await sha256File(event.path), await sha256File(file));
  return event;
}

test('XDG_DOWNLOAD_DIR of user-dirs.dirs: $HOME/… or absolute, the last line winning; anything else is not taken', () => {
  assert.equal(parseUserDirs('# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Desktop"\nXDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n', '/home/u'), '/home/u/Téléchargements');
  assert.equal(parseUserDirs('XDG_DOWNLOAD_DIR="/data/dl"\n', '/home/u'), '/data/dl');
  assert.equal(parseUserDirs('XDG_DOWNLOAD_DIR="$HOME/a"\nXDG_DOWNLOAD_DIR="$HOME/b"\n', '/home/u'), '/home/u/b');
  for (const text of ['', 'XDG_DOWNLOAD_DIR="relative/dl"', 'XDG_DOWNLOAD_DIR=$HOME/unquoted', '# XDG_DOWNLOAD_DIR="$HOME/x"']) assert.equal(parseUserDirs(text, '/home/u'), undefined, text);
  const read = (files: Record<string, string>) => (path: string) => files[path];
  assert.equal(userDownloadsFolder({ XDG_CONFIG_HOME: '/cfg' }, 'linux', '/home/u', read({ '/cfg/user-dirs.dirs': 'XDG_DOWNLOAD_DIR="$HOME/DL"' })), '/home/u/DL');
  assert.equal(userDownloadsFolder({}, 'linux', '/home/u', read({ '/home/u/.config/user-dirs.dirs': 'XDG_DOWNLOAD_DIR="/x/DL"' })), '/x/DL');
  assert.equal(userDownloadsFolder({ XDG_CONFIG_HOME: 'relative' }, 'linux', '/home/u', read({})), '/home/u/Downloads');
  assert.equal(userDownloadsFolder({}, 'darwin', '/Users/u', read({})), '/Users/u/Downloads');
});

test('get writes into the current folder of its process; --out wins; run again from the same folder it is already there', async (t) => {
  const net = await cliNetwork(t);
  const b = await startServe(t, net.b);
  const file = await randomFile(net.dir, 'here.bin', 70_000);
  assert.equal((await runCli(t, ['send', file, '--home', net.a, '--peer', b.peer])).code, 0);
  const cwd = join(net.dir, 'work');
  await mkdir(cwd);

  const got = json<{ path: string; alreadyHere: boolean }>(await runCli(t, ['get', 'here.bin', '--home', net.a, '--peer', b.peer, '--json'], { cwd }));
  assert.deepEqual([got.path, got.alreadyHere], [join(cwd, 'here.bin'), false]);
  assert.equal(await sha256File(got.path), await sha256File(file));
  const text = await runCli(t, ['get', 'here.bin', '--home', net.a, '--peer', b.peer], { cwd });
  assert.equal(text.stdout, `Already here: ${join(cwd, 'here.bin')} is file ${/[0-9a-f]{32}/.exec(text.stdout)?.[0]}, unchanged since it was received; nothing written.\n`);
  assert.deepEqual(await readdir(cwd), ['here.bin'], 'nothing else in the folder: no partial left behind');

  const out = join(net.dir, 'out');
  const there = json<{ path: string }>(await runCli(t, ['get', 'here.bin', '--home', net.a, '--peer', b.peer, '--out', out, '--json'], { cwd }));
  assert.equal(there.path, join(out, 'here.bin'));
  assert.deepEqual(await readdir(cwd), ['here.bin']);
  assert.deepEqual(await readdir(join(net.a, 'received')).catch(() => []), [], 'nothing in the home');
});

test('serve: --downloads, then $P2PFX_DOWNLOADS, then `p2pfx config downloads`, each where the files sent land', async (t) => {
  const net = await cliNetwork(t);
  const option = join(net.dir, 'option');
  const env = join(net.dir, 'env');
  const setting = join(net.dir, 'setting');
  const set = json<{ downloads: { dir: string; source: string; setting: string } }>(await runCli(t, ['config', 'downloads', setting, '--home', net.b, '--json'], { env: { P2PFX_DOWNLOADS: '' } }));
  assert.deepEqual(set.downloads, { dir: setting, source: 'setting', setting });
  assert.equal((await stat(setting)).mode & 0o777, 0o700, 'made for this user only');

  const first = await startServe(t, net.b, '127.0.0.1', { env: { P2PFX_DOWNLOADS: env }, args: ['--downloads', option] });
  assert.deepEqual(first.downloads, { dir: option, source: 'option' });
  assert.equal(await sendTo(t, net.a, first, net.dir, 'one.bin'), join(option, 'one.bin'));
  await stopChild(first.cli.child);

  const second = await startServe(t, net.b, '127.0.0.1', { env: { P2PFX_DOWNLOADS: env } });
  assert.deepEqual(second.downloads, { dir: env, source: 'env' });
  assert.equal(await sendTo(t, net.a, second, net.dir, 'two.bin'), join(env, 'two.bin'));
  await stopChild(second.cli.child);

  const third = await startServe(t, net.b, '127.0.0.1', { env: { P2PFX_DOWNLOADS: '' } });
  assert.deepEqual(third.downloads, { dir: setting, source: 'setting' });
  assert.equal(await sendTo(t, net.a, third, net.dir, 'three.bin'), join(setting, 'three.bin'));
  for (const [dir, name] of [[option, 'one.bin'], [env, 'two.bin'], [setting, 'three.bin']] as const) assert.deepEqual(await readdir(dir), [name]);

  // --unset: back to the default, here under a HOME of this test's own.
  const env2 = await user(net.dir);
  const unset = json<{ downloads: { dir: string; source: string; setting: null } }>(await runCli(t, ['config', 'downloads', '--unset', '--home', net.b, '--json'], { env: env2 }));
  assert.deepEqual(unset.downloads, { dir: join(env2.HOME!, 'Downloads', 'p2pfx'), source: 'default', setting: null });
});

test('the default downloads folder: XDG_DOWNLOAD_DIR of $XDG_CONFIG_HOME/user-dirs.dirs + p2pfx, else ~/Downloads/p2pfx; serve makes it 0700 and says it', async (t) => {
  const net = await cliNetwork(t);
  const env = await user(net.dir, 'XDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n');
  const expected = join(env.HOME!, 'Téléchargements', 'p2pfx');
  const b = await startServe(t, net.b, '127.0.0.1', { env });
  assert.deepEqual(b.downloads, { dir: expected, source: 'default' });
  assert.equal((await stat(expected)).mode & 0o777, 0o700);
  assert.equal(await sendTo(t, net.a, b, net.dir, 'x.bin'), join(expected, 'x.bin'));
  assert.deepEqual(await readdir(env.HOME!), ['Téléchargements'], 'nothing else in the user\'s folder');

  await writeFile(join(env.XDG_CONFIG_HOME!, 'user-dirs.dirs'), '# no download dir here\n');
  const plain = json<{ downloads: { dir: string; source: string } }>(await runCli(t, ['config', 'downloads', '--home', net.b, '--json'], { env }));
  assert.deepEqual(plain.downloads, { dir: join(env.HOME!, 'Downloads', 'p2pfx'), source: 'default', setting: null });
  await stopChild(b.cli.child);

  // Said on the terminal too, at start.
  const shown = startCli(t, ['serve', '--home', net.b, '--host', '127.0.0.1', '--port', '0', '--no-discovery'], { env });
  await shown.waitFor(new RegExp(`^files sent to this node go to ${escape(join(env.HOME!, 'Downloads', 'p2pfx'))}$`, 'm'));
});

test('a home whose received/ holds files from an earlier p2pfx keeps it as its downloads folder, and serve says so once, with how to change it', async (t) => {
  const net = await cliNetwork(t);
  const env = await user(net.dir);
  await mkdir(join(net.b, 'received'));
  await writeFile(join(net.b, 'received', 'old.txt'), 'received by p2pfx 0.1\n');
  const b = await startServe(t, net.b, '127.0.0.1', { env });
  assert.deepEqual(b.downloads, { dir: join(net.b, 'received'), source: 'legacy' });
  assert.equal(await sendTo(t, net.a, b, net.dir, 'new.bin'), join(net.b, 'received', 'new.bin'));
  const notes = b.cli.stderr().split('\n').filter((l) => l.startsWith('note: '));
  assert.deepEqual(notes, [`note: files sent to this node go to ${join(net.b, 'received')}, where earlier versions of p2pfx put them; to use another folder: \`p2pfx config downloads DIR\` (or \`serve --downloads DIR\`, or $P2PFX_DOWNLOADS)`]);
  assert.deepEqual(await readdir(env.HOME!), [], 'no ~/Downloads made');

  // Configured elsewhere since: new files go there, and a newer version of a file received into
  // received/ replaces it where it is (unchanged there since).
  const elsewhere = join(net.dir, 'elsewhere');
  assert.equal((await runCli(t, ['config', 'downloads', elsewhere, '--home', net.b], { env })).code, 0);
  await stopChild(b.cli.child);
  const again = await startServe(t, net.b, '127.0.0.1', { env });
  assert.deepEqual(again.downloads, { dir: elsewhere, source: 'setting' });
  assert.ok(!again.cli.stderr().includes('note: '), again.cli.stderr());
  const update = await sendEvent(t, net.a, again, net.dir, 'new.bin');
  assert.deepEqual([update.path, update.updated], [join(net.b, 'received', 'new.bin'), true]);
  assert.equal(await sendTo(t, net.a, again, net.dir, 'other.bin'), join(elsewhere, 'other.bin'));
  assert.deepEqual((await readdir(join(net.b, 'received'))).sort(), ['new.bin', 'old.txt']);

  // An empty received/ (every earlier home has one) is not kept: the default is.
  const c = await net.issue('gamma');
  await mkdir(join(c, 'received'), { recursive: true });
  const fresh = json<{ downloads: { dir: string; source: string } }>(await runCli(t, ['config', 'downloads', '--home', c, '--json'], { env }));
  assert.deepEqual(fresh.downloads, { dir: join(env.HOME!, 'Downloads', 'p2pfx'), source: 'default', setting: null });
});

test('a downloads folder that cannot be made: DOWNLOADS_UNUSABLE naming it, exit 1, nothing made, nothing kept (serve, config, get, doctor)', async (t) => {
  const net = await cliNetwork(t);
  const blocker = join(net.dir, 'a-file');
  await writeFile(blocker, 'not a folder\n');
  const bad = join(blocker, 'downloads');

  const serve = await runCli(t, ['serve', '--home', net.b, '--host', '127.0.0.1', '--port', '0', '--no-discovery', '--downloads', bad]);
  assert.equal(assertCliError(serve, 'DOWNLOADS_UNUSABLE'), `the downloads folder ${bad} (from --downloads) cannot be made or written: a file stands where a folder should be`);

  const config = await runCli(t, ['config', 'downloads', bad, '--home', net.b], { env: { P2PFX_DOWNLOADS: '' } });
  assert.match(assertCliError(config, 'DOWNLOADS_UNUSABLE'), new RegExp(`^the downloads folder ${bad} \\(set by \`p2pfx config downloads\`\\)`));
  const after = json<{ downloads: { setting: string | null } }>(await runCli(t, ['config', 'downloads', '--home', net.b, '--json']));
  assert.equal(after.downloads.setting, null, 'the setting was not kept');

  const get = await runCli(t, ['get', 'anything', '--home', net.a, '--peer', `127.0.0.1:${await closedPort()}`, '--out', bad]);
  assert.equal(assertCliError(get, 'DOWNLOADS_UNUSABLE'), `cannot download into ${bad} (--out): a file stands where a folder should be`);

  const doctor = await runCli(t, ['doctor', '--home', net.b, '--port', '0', '--json'], { env: { P2PFX_DOWNLOADS: bad } });
  const check = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; status: string; code: string | null; detail: string }> }).checks.find((c) => c.name === 'downloads');
  assert.deepEqual([check?.status, check?.code], ['FAIL', 'DOWNLOADS_UNUSABLE']);
  assert.equal(doctor.code, 1);
  assert.equal(await readFile(blocker, 'utf8'), 'not a folder\n');
});
