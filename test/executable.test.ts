// The single executable (`npm run build:exe`, Node's SEA) on a machine without Node.js: run with
// an empty PATH, it makes a network, serves, sends and gets (its crypto worker threads run from
// inside it) and serves the web UI's page and assets from inside it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { randomFile } from './helpers/network.js';
import { repoRoot, runCli, startCli, startServe, tempHome, type RunOptions } from './helpers/cli.js';

const EXE = join(repoRoot, 'dist/exe/p2pfx');
const BUILD_TIMEOUT_MS = 300_000;

/** The executable as CI builds it (.ci/run runs `npm run build:exe` first); built here when absent. */
async function executable(): Promise<string> {
  if (!(await access(EXE, constants.X_OK).then(() => true, () => false))) {
    await promisify(execFile)(process.execPath, [join(repoRoot, 'dist/scripts/build-exe.js')], { cwd: repoRoot, timeout: BUILD_TIMEOUT_MS });
  }
  return EXE;
}

test('the single executable runs without Node.js on PATH: certs, serve, send, get, and the web UI', { timeout: BUILD_TIMEOUT_MS + 120_000 }, async (t) => {
  const exe = await executable();
  const dir = await tempHome(t, 'p2pfx-exe-');
  // Nothing to find a node with: no PATH, no NODE_* variables, a home of its own.
  const bare: Pick<RunOptions, 'program' | 'exactEnv'> = { program: exe, exactEnv: { PATH: '', HOME: dir } };
  const run = (args: string[]) => runCli(t, args, { ...bare, cwd: dir });

  const help = await run(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: p2pfx/);
  assert.match(help.stdout, /\bsend\b/);
  assert.equal(help.stderr, '', 'no warning (the experimental-SEA one is switched off)');

  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const certs = await run(['certs', '--home', a, '--name', 'alpha', '--ip', '127.0.0.1']);
  assert.equal(certs.code, 0, certs.stderr);
  const issue = await run(['certs', 'issue', 'beta', '--home', a, '--ip', '127.0.0.1', '--out', b]);
  assert.equal(issue.code, 0, issue.stderr);

  const beta = await startServe(t, b, '127.0.0.1', bare);
  const file = await randomFile(dir, 'payload.bin', 3 * 1024 * 1024 + 17);
  const sent = await run(['send', file, '--home', a, '--peer', beta.peer, '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  await beta.cli.waitFor(/"event":"received"/);
  assert.deepEqual(await readFile(join(b, 'received', 'payload.bin')), await readFile(file), 'beta reassembled it on its own (worker threads inside the executable)');

  const out = join(dir, 'downloads');
  const got = await run(['get', 'payload.bin', '--home', a, '--peer', beta.peer, '--out', out, '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(await readFile(join(out, 'payload.bin')), await readFile(file));

  // The web UI: the page (with its token) and every built asset, from inside the executable.
  const ui = startCli(t, ['ui', '--home', a, '--no-open', '--ui-port', '0', '--port', '0', '--host', '127.0.0.1', '--no-discovery'], { ...bare, cwd: dir });
  const [, url] = await ui.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
  const page = await fetch(url!);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<meta name="p2pfx-token"/);
  const origin = new URL(url!).origin;
  const assets = await readdir(join(repoRoot, 'dist/ui/assets'));
  assert.ok(assets.length >= 2, `built assets: ${assets.join(', ')}`);
  for (const name of assets) {
    const res = await fetch(`${origin}/assets/${name}`);
    assert.equal(res.status, 200, `/assets/${name}`);
    assert.equal(Buffer.from(await res.arrayBuffer()).length, (await stat(join(repoRoot, 'dist/ui/assets', name))).size, `/assets/${name} whole`);
  }
  assert.equal((await fetch(`${origin}/assets/..%2f..%2fpackage.json`)).status, 404);
});
