// Where the node's home is (issue 16, "A home that finds itself"): the per-user default for each
// platform (pure), and the real CLI choosing --home, $P2PFX_HOME, a home in the current folder
// (the old default, with a note on stderr) or the default. Each process gets a HOME and an
// XDG_DATA_HOME inside the test's temp dir: the real user's folders are never touched.
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { defaultHome, Home } from '../src/store/home.js';
import { runCli, tempHome, type CliResult } from './helpers/cli.js';

test('defaultHome on Linux and other Unix: $XDG_DATA_HOME/p2pfx when absolute, else ~/.local/share/p2pfx', () => {
  for (const platform of ['linux', 'freebsd', 'openbsd'] as const) {
    assert.equal(defaultHome({ XDG_DATA_HOME: '/data/me' }, platform, '/home/me'), '/data/me/p2pfx');
    assert.equal(defaultHome({}, platform, '/home/me'), '/home/me/.local/share/p2pfx');
    // The XDG spec: a relative path is invalid and is ignored; so is an empty one.
    assert.equal(defaultHome({ XDG_DATA_HOME: 'rel/data' }, platform, '/home/me'), '/home/me/.local/share/p2pfx');
    assert.equal(defaultHome({ XDG_DATA_HOME: '' }, platform, '/home/me'), '/home/me/.local/share/p2pfx');
  }
});

test('defaultHome on macOS: ~/Library/Application Support/p2pfx, whatever XDG_DATA_HOME says', () => {
  assert.equal(defaultHome({}, 'darwin', '/Users/me'), '/Users/me/Library/Application Support/p2pfx');
  assert.equal(defaultHome({ XDG_DATA_HOME: '/data/me' }, 'darwin', '/Users/me'), '/Users/me/Library/Application Support/p2pfx');
});

test('defaultHome on Windows: %LOCALAPPDATA%\\p2pfx, else %APPDATA%\\p2pfx, else ~\\AppData\\Local\\p2pfx', () => {
  const home = 'C:\\Users\\me';
  assert.equal(defaultHome({ LOCALAPPDATA: 'D:\\Local', APPDATA: 'D:\\Roaming' }, 'win32', home), 'D:\\Local\\p2pfx');
  assert.equal(defaultHome({ APPDATA: 'D:\\Roaming' }, 'win32', home), 'D:\\Roaming\\p2pfx');
  assert.equal(defaultHome({ LOCALAPPDATA: '', APPDATA: '' }, 'win32', home), 'C:\\Users\\me\\AppData\\Local\\p2pfx');
});

test('Home.resolve: --home, then $P2PFX_HOME, then a home in the current folder, then the default; it makes nothing', async (t) => {
  const dir = await tempHome(t, 'p2pfx-home-');
  const env = { XDG_DATA_HOME: join(dir, 'data') };
  const cwd = join(dir, 'cwd');
  await mkdir(cwd);
  assert.deepEqual(Home.resolve('/opt/h', { ...env, P2PFX_HOME: '/env/h' }, cwd), { home: new Home('/opt/h'), source: 'option' });
  assert.deepEqual(Home.resolve(undefined, { ...env, P2PFX_HOME: '/env/h' }, cwd), { home: new Home('/env/h'), source: 'env' });
  assert.deepEqual(Home.resolve(undefined, env, cwd), { home: new Home(join(dir, 'data', 'p2pfx')), source: 'default' });
  assert.deepEqual(await readdir(dir), ['cwd'], 'resolving made no folder');
  // A CA certificate alone (a CA machine's certs/, or a half-made home) marks an old home too.
  await mkdir(join(cwd, 'certs'));
  assert.equal(Home.resolve(undefined, env, cwd).source, 'default', 'an empty certs/ is not a home');
  await writeText(join(cwd, 'certs', 'ca-cert.pem'));
  assert.deepEqual(Home.resolve(undefined, env, cwd), { home: new Home(cwd), source: 'legacy-cwd' });
  // The current folder that is the default home is the default.
  const data = join(dir, 'data', 'p2pfx');
  await mkdir(join(data, 'certs'), { recursive: true });
  await writeText(join(data, 'certs', 'node-cert.pem'));
  assert.equal(Home.resolve(undefined, env, data).source, 'default');
});

async function writeText(path: string): Promise<void> {
  await writeFile(path, 'x');
}

/** A user of their own: HOME and XDG_DATA_HOME inside the test's dir. */
async function user(t: TestContext): Promise<{ dir: string; env: { HOME: string; XDG_DATA_HOME: string }; defaultRoot: string }> {
  const dir = await tempHome(t, 'p2pfx-home-cli-');
  const env = { HOME: join(dir, 'me'), XDG_DATA_HOME: join(dir, 'me', 'data') };
  await mkdir(env.HOME);
  return { dir, env, defaultRoot: join(env.XDG_DATA_HOME, 'p2pfx') };
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

test('p2pfx certs with no --home makes the home under $XDG_DATA_HOME/p2pfx (mode 0700); id from another folder finds it', async (t) => {
  const { dir, env, defaultRoot } = await user(t);
  const made = JSON.parse(ok(await runCli(t, ['certs', '--name', 'alpha', '--json'], { env, cwd: dir })).stdout) as { home: string; nodeId: string };
  assert.equal(made.home, defaultRoot);
  assert.equal((await stat(defaultRoot)).mode & 0o777, 0o700, 'the home is this user\'s only');
  assert.deepEqual(await readdir(dir), ['me'], 'nothing written in the current folder');
  const elsewhere = join(dir, 'elsewhere');
  await mkdir(elsewhere);
  const id = ok(await runCli(t, ['id'], { env, cwd: elsewhere }));
  assert.equal(id.stdout, `${made.nodeId}\n`);
  assert.equal(id.stderr, '', 'no note: the default home is no surprise');
  const doctor = JSON.parse((await runCli(t, ['doctor', '--port', '0', '--json'], { env, cwd: elsewhere })).stdout) as { checks: Array<{ name: string; detail: string }> };
  assert.equal(doctor.checks[0]!.detail, `home ${defaultRoot} (default): found, readable and writable`);
});

test('a command with no home anywhere writes nothing and names the default home it looked in', async (t) => {
  const { dir, env, defaultRoot } = await user(t);
  const r = await runCli(t, ['id'], { env, cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^error CERTS_MISSING: the p2pfx home ${defaultRoot} holds no node certificate`, 'm'));
  assert.deepEqual(await readdir(env.HOME), [], 'resolving the home made nothing');
});

test('a home in the current folder (the old default) is used, said once on stderr, never on --json\'s stdout', async (t) => {
  const { dir, env, defaultRoot } = await user(t);
  const old = join(dir, 'old');
  const made = JSON.parse(ok(await runCli(t, ['certs', '--home', old, '--name', 'alpha', '--json'], { env })).stdout) as { nodeId: string };
  const note = `note: using the p2pfx home in the current folder ${old} (the default up to p2pfx 0.1); to use it from anywhere, move it to ${defaultRoot} or set P2PFX_HOME=${old}\n`;

  const id = ok(await runCli(t, ['id'], { env, cwd: old }));
  assert.equal(id.stdout, `${made.nodeId}\n`);
  assert.equal(id.stderr, note);
  const json = ok(await runCli(t, ['id', '--json'], { env, cwd: old }));
  assert.equal((JSON.parse(json.stdout) as { nodeId: string }).nodeId, made.nodeId, 'stdout is the JSON alone');
  assert.equal(json.stderr, note);
  const doctor = JSON.parse((await runCli(t, ['doctor', '--port', '0', '--json'], { env, cwd: old })).stdout) as { checks: Array<{ detail: string }> };
  assert.equal(doctor.checks[0]!.detail, `home ${old} (current folder (old default)): found, readable and writable`);
  await assert.rejects(stat(defaultRoot), 'the default home was not made');
});

test('--home and $P2PFX_HOME still come first, over a home in the current folder and the default', async (t) => {
  const { dir, env } = await user(t);
  const ids: Record<string, string> = {};
  for (const name of ['old', 'chosen', 'fromenv']) {
    ids[name] = (JSON.parse(ok(await runCli(t, ['certs', '--home', join(dir, name), '--name', name, '--json'], { env })).stdout) as { nodeId: string }).nodeId;
  }
  ok(await runCli(t, ['certs', '--name', 'default'], { env, cwd: dir }));
  const cwd = join(dir, 'old');
  const byOption = ok(await runCli(t, ['id', '--home', join(dir, 'chosen')], { env: { ...env, P2PFX_HOME: join(dir, 'fromenv') }, cwd }));
  assert.deepEqual([byOption.stdout, byOption.stderr], [`${ids.chosen}\n`, '']);
  const byEnv = ok(await runCli(t, ['id'], { env: { ...env, P2PFX_HOME: join(dir, 'fromenv') }, cwd }));
  assert.deepEqual([byEnv.stdout, byEnv.stderr], [`${ids.fromenv}\n`, '']);
});
