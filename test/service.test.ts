// `p2pfx service`: the systemd user unit that runs `p2pfx serve` for a home, checked by its text,
// by running its ExecStart line exactly as systemd would split it, and — where a systemd user
// manager runs — by starting it for real. And the runtime check: an old node says what it is.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { assertCliError, cliNetwork, cliPath, runCli, tempHome } from './helpers/cli.js';

/**
 * Splits an ExecStart value as systemd does (systemd.service "Command lines"): words, double
 * quotes with C-style backslash escapes, `%%` for `%` and `$$` for `$`.
 */
function splitExecStart(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let word = '';
    const quoted = line[i] === '"';
    if (quoted) i++;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quoted && c === '"') { i++; break; }
      if (!quoted && c === ' ') break;
      if (c === '\\') word += line[++i] ?? '';
      else if ((c === '%' || c === '$') && line[i + 1] === c) word += line[i++]!;
      else if (c === '%' || c === '$') assert.fail(`a lone ${c} in ExecStart would be expanded by systemd: ${line}`);
      else word += c;
    }
    words.push(word);
  }
  return words;
}

function field(unit: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
  assert.ok(m, `${key}= in the unit:\n${unit}`);
  return m[1]!;
}

test('service install --print: a user unit that restarts on failure, starts at login, and whose ExecStart serves this home', async (t) => {
  const net = await cliNetwork(t);
  // A home whose path holds what systemd would expand or split: spaces, %, $ and a quote.
  const home = join(net.dir, 'odd "home" 100% $HOME');
  await mkdir(home);
  const issued = await runCli(t, ['certs', 'issue', 'svc', '--home', net.a, '--ip', '127.0.0.1', '--out', home, '--force']);
  assert.equal(issued.code, 0, issued.stderr);

  const r = await runCli(t, ['service', 'install', '--print', '--home', home, '--port', '0', '--host', '127.0.0.1', '--no-discovery']);
  assert.equal(r.code, 0, r.stderr);
  const unit = r.stdout;
  assert.match(unit, /^\[Unit\]$/m);
  assert.equal(field(unit, 'Restart'), 'on-failure');
  assert.equal(field(unit, 'WantedBy'), 'default.target', 'starts with the user session (at login)');
  assert.equal(field(unit, 'UMask'), '0077');
  const argv = splitExecStart(field(unit, 'ExecStart'));
  assert.deepEqual(argv, [process.execPath, cliPath, 'serve', '--home', home, '--port', '0', '--host', '127.0.0.1', '--no-discovery']);
  for (const path of argv.slice(0, 2)) assert.ok(isAbsolute(path), `${path} is absolute: a service has no PATH of the user's shell`);

  // What systemd would start: the same argv, with an empty environment. It serves this home.
  const child = spawn(argv[0]!, argv.slice(1), { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the unit's command did not start serving: ${out}`)), 30_000);
    child.stdout.on('data', () => {
      if (/listening on https:\/\/127\.0\.0\.1:\d+[^]*\nhome .*\n/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the unit's command exited (${code}): ${out}`)));
  });
  assert.match(out, /p2pfx node svc listening/);
  assert.ok(out.includes(`home ${home}`), out);
});

test('service install writes the unit under $XDG_CONFIG_HOME/systemd/user, uninstall removes it; errors say what is wrong', async (t) => {
  const net = await cliNetwork(t);
  const config = join(net.dir, 'config');
  const env = { XDG_CONFIG_HOME: config };
  const unitDir = join(config, 'systemd', 'user');
  const printed = (await runCli(t, ['service', 'install', '--print', '--home', net.b], { env })).stdout;

  const r = await runCli(t, ['service', 'install', '--home', net.b, '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { unit: string; path: string; written: string; started: boolean; systemctl: string };
  assert.equal(result.unit, 'p2pfx-beta.service');
  assert.equal(result.path, join(unitDir, 'p2pfx-beta.service'));
  assert.equal(result.written, 'created');
  assert.equal(await readFile(result.path, 'utf8'), printed, 'the unit installed is the one --print shows');
  // Installing again changes nothing.
  const again = JSON.parse((await runCli(t, ['service', 'install', '--home', net.b, '--json', '--no-start'], { env })).stdout) as typeof result;
  assert.equal(again.written, 'unchanged');

  const userManager = spawnSync('systemctl', ['--user', 'is-system-running'], { encoding: 'utf8' });
  const running = userManager.status !== null && /^(running|degraded)/.test(userManager.stdout);
  if (running) {
    assert.equal(result.started, true, result.systemctl);
    const active = spawnSync('systemctl', ['--user', 'is-active', result.unit], { encoding: 'utf8' });
    assert.equal(active.stdout.trim(), 'active');
  } else {
    // No user service manager here (a container, CI): the unit is written, and the command says
    // it could not start it and how to, instead of pretending.
    assert.equal(result.started, false);
    const text = await runCli(t, ['service', 'install', '--home', net.b], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Not started: systemctl --user did not answer here/);
    assert.match(text.stdout, /systemctl --user enable --now p2pfx-beta\.service/);
    t.diagnostic(`no systemd user manager here (${(userManager.stdout || userManager.stderr || 'no answer').trim()}): the unit was not started for real`);
  }

  const removed = await runCli(t, ['service', 'uninstall', '--home', net.b, '--json'], { env });
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(await readdir(unitDir), []);
  const twice = await runCli(t, ['service', 'uninstall', '--home', net.b], { env });
  assertCliError(twice, 'SERVICE_NOT_INSTALLED');
  assert.match(twice.stderr, /p2pfx-beta\.service/);

  // A home with no node: nothing written, and the usual CERTS_MISSING.
  const empty = await tempHome(t);
  const none = await runCli(t, ['service', 'install', '--home', empty], { env });
  assertCliError(none, 'CERTS_MISSING');
  assert.deepEqual(await readdir(unitDir), []);
});

test('an older Node.js gets UNSUPPORTED_RUNTIME with its version, not a failed import', async (t) => {
  const old = ['/usr/bin/node', '/usr/local/bin/node'].map((path) => ({ path, r: spawnSync(path, ['--version'], { encoding: 'utf8' }) }))
    .find(({ r }) => r.status === 0 && Number(/^v(\d+)/.exec(r.stdout)?.[1] ?? 99) < 24);
  if (old === undefined) return t.skip('no Node.js older than 24 on this machine to run p2pfx with');
  const r = spawnSync(old.path, [cliPath, 'id'], { encoding: 'utf8', env: {} });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^error UNSUPPORTED_RUNTIME: p2pfx needs Node.js 24 or newer; this is ${old.r.stdout.trim()}`));
  assert.doesNotMatch(r.stderr, /node:sqlite|ERR_|at /);
});
