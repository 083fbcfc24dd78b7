// npm run check:package — the package as a user installs it, checked end to end:
//   npm pack → npm install -g --prefix TMP ./p2pfx-*.tgz (a fresh npm cache: every dependency
//   comes from the registry) → no EBADENGINE or install-script warning, no native addon, no
//   package with an install script → the installed `p2pfx` runs --help, certs, serve, send, get
//   and ui between two homes. Prints the install time, the installed size and the package count.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { writeRandomFile } from './bench-files.js';
import { p2pfx, p2pfxJson, serve, start, type Program } from './cli-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM_TIMEOUT_MS = 600_000;

function run(command: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: NPM_TIMEOUT_MS, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
  console.log(`  ok  ${what}`);
}

async function walk(dir: string, visit: (path: string, isFile: boolean) => Promise<void>): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    await visit(path, e.isFile());
    if (e.isDirectory()) await walk(path, visit);
  }
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'p2pfx-package-'));
  const nodes: Array<{ stop(): Promise<void> }> = [];
  try {
    console.log(`npm pack (in ${ROOT})`);
    const packed = await run('npm', ['pack', '--pack-destination', tmp, '--json'], ROOT);
    // The build (prepack) prints first; npm's JSON report is the last thing on stdout.
    const report = packed.stdout.slice(packed.stdout.lastIndexOf('\n[') + 1);
    const tarball = join(tmp, (JSON.parse(report) as Array<{ filename: string }>)[0]!.filename);

    const prefix = join(tmp, 'prefix');
    console.log(`npm install -g --prefix ${prefix} ${tarball} (fresh cache)`);
    const t0 = performance.now();
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--cache', join(tmp, 'cache'), '--no-audit', '--no-fund', '--loglevel', 'warn', tarball], tmp);
    const seconds = (performance.now() - t0) / 1000;
    const log = `${installed.stdout}\n${installed.stderr}`;
    check(!/EBADENGINE/.test(log), 'no EBADENGINE warning');
    check(!/install-scripts|node-gyp|prebuild/i.test(log), 'no install script asked to run');

    const modules = join(prefix, 'lib', 'node_modules', 'p2pfx');
    let bytes = 0;
    let packages = 0;
    const addons: string[] = [];
    const scripted: string[] = [];
    await walk(modules, async (path, isFile) => {
      if (!isFile) return;
      bytes += (await stat(path)).size;
      if (path.endsWith('.node')) addons.push(path);
      if (path.endsWith('/package.json') && /node_modules\/(@[^/]+\/)?[^/]+\/package\.json$/.test(path)) {
        const pkg = JSON.parse(await readFile(path, 'utf8')) as { name?: string; scripts?: Record<string, string> };
        if (pkg.name === undefined) return;
        packages++;
        const s = pkg.scripts ?? {};
        if (s.preinstall ?? s.install ?? s.postinstall) scripted.push(pkg.name);
      }
    });
    check(addons.length === 0, `no native addon (${addons.join(', ') || 'none'})`);
    check(scripted.length === 0, `no dependency with an install script (${scripted.join(', ') || 'none'})`);

    const bin = join(prefix, 'bin', 'p2pfx');
    const program: Program = [bin];
    const help = await p2pfx(['--help'], { program });
    check(help.code === 0 && /Usage: p2pfx/.test(help.stdout), 'p2pfx --help');
    const a = join(tmp, 'alpha');
    const b = join(tmp, 'beta');
    await p2pfxJson(['certs', '--home', a, '--name', 'alpha', '--ip', '127.0.0.1'], program);
    await p2pfxJson(['certs', 'issue', 'beta', '--home', a, '--ip', '127.0.0.1', '--out', b], program);
    check(true, 'p2pfx certs, certs issue');
    const beta = await serve(b, '127.0.0.1', [], program);
    nodes.push(beta);
    check(true, `p2pfx serve (port ${beta.port})`);
    const file = join(tmp, 'payload.bin');
    await writeRandomFile(file, 5 * 2 ** 20 + 3);
    await p2pfxJson(['send', file, '--home', a, '--peer', `127.0.0.1:${beta.port}`], program);
    await beta.event((e) => e.event === 'received', 60_000);
    check(await sha256(join(b, 'received', 'payload.bin')) === await sha256(file), 'p2pfx send: beta reassembled the file, SHA-256 equal');
    await p2pfxJson(['get', 'payload.bin', '--home', a, '--peer', `127.0.0.1:${beta.port}`, '--out', join(tmp, 'dl')], program);
    check(await sha256(join(tmp, 'dl', 'payload.bin')) === await sha256(file), 'p2pfx get: downloaded, SHA-256 equal');
    const ui = await start<{ ui: string | null }>(['ui', '--home', a, '--no-open', '--host', '127.0.0.1', '--port', '0', '--ui-port', '0', '--no-discovery', '--downloads', join(a, 'received')], program);
    nodes.push({ stop: async () => { ui.kill(); await ui.exit; } });
    const page = await fetch(ui.first.ui ?? '');
    check(page.status === 200 && /p2pfx-token/.test(await page.text()), 'p2pfx ui: the page answers with its token');

    const added = /added (\d+) packages?/.exec(log)?.[1] ?? '?';
    const du = (await run('du', ['-sk', prefix], tmp)).stdout.split('\t')[0];
    console.log(`\ninstalled p2pfx in ${seconds.toFixed(1)} s: npm added ${added} packages (${packages} package.json files), ${(bytes / 1e6).toFixed(1)} MB of files, ${(Number(du) / 1024).toFixed(1)} MiB on disk (du)`);
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

main().catch((err: unknown) => {
  console.error(`check:package failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
