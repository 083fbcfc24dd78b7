// Fixtures for testing the CLI as a user meets it: the real built binary in a child process,
// a fresh home per test, every child bounded by a timeout and killed through t.after.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, type ErrorCode } from '../../src/core/errors.js';

/** dist/test/helpers/cli.js → the repository's root. */
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const cliPath = join(repoRoot, 'dist/src/cli/main.js');

/** A command that should finish well within this, even with scrypt and a TLS handshake or two. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed; stdin is an empty pipe (not a TTY) otherwise. */
  input?: string;
  /** Added to a cleaned environment (no P2PFX_* from the caller's shell). */
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Runs this program (the single executable, an installed `p2pfx`) instead of node + the built CLI. */
  program?: string;
  /** The whole environment instead of the cleaned one (e.g. an empty PATH), with $P2PFX_DOWNLOADS as placesFor says unless it names one. */
  exactEnv?: NodeJS.ProcessEnv;
}

/**
 * The caller's environment without anything that would change p2pfx's behaviour; the per-user
 * default home ($XDG_DATA_HOME/p2pfx) is moved into a folder of this test process, so a command
 * run without --home never reads or writes the real user's. A test about the default home gives
 * its own HOME and XDG_DATA_HOME in `extra`.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('P2PFX_') && !k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return { ...env, XDG_DATA_HOME: sandboxDataHome(), ...extra };
}

let sandbox: string | undefined;

/** A data folder for this test process, made on first use and removed when it exits. */
function sandboxDataHome(): string {
  if (sandbox === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'p2pfx-test-data-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    sandbox = dir;
  }
  return sandbox;
}

// The children of each test. t.after hooks run in the order they were registered, so a temp
// home (made first) would be removed before the processes using it were stopped: the home's
// own hook stops them first.
const children = new WeakMap<TestContext, Set<ChildProcessWithoutNullStreams>>();
const GRACE_MS = 3_000;
/** Children being stopped by the fixtures (not dying on their own). */
const stopping = new WeakSet<ChildProcessWithoutNullStreams>();

function spawnCli(t: TestContext, args: string[], opts: RunOptions & { tty?: boolean }): ChildProcessWithoutNullStreams {
  const [file, argv] = opts.program === undefined ? [process.execPath, [cliPath, ...args]] : [opts.program, args];
  const { cwd, env } = placesFor(args, opts);
  // util-linux `script` runs the command on a pseudo-terminal: stdin, stdout, stderr all TTYs.
  const child = opts.tty
    ? spawn('script', ['-qfec', [file, ...argv].map(shellQuote).join(' '), '/dev/null'], { cwd, env: cleanEnv({ TERM: 'dumb', ...env }), stdio: 'pipe' })
    : spawn(file, argv, { cwd, env: opts.exactEnv ? { P2PFX_DOWNLOADS: env.P2PFX_DOWNLOADS, ...opts.exactEnv } : cleanEnv(env), stdio: 'pipe' });
  let set = children.get(t);
  if (!set) children.set(t, (set = new Set()));
  set.add(child);
  t.after(() => stopChild(child));
  return child;
}

/**
 * Where a command's files land, kept inside the test's folders: never the machine's real
 * ~/Downloads, nor the repository. Files sent to a node go to HOME/received ($P2PFX_DOWNLOADS,
 * unless the test gives its own, or '' for none); a `get` or the menu, which download into the
 * current folder, run in HOME/received (made then) unless the test gives a cwd or the home has no certs/. So every assertion on
 * HOME/received keeps its meaning. HOME is --home, else $P2PFX_HOME, else the sandboxed data folder.
 */
function placesFor(args: string[], opts: RunOptions): { cwd: string; env: Record<string, string> } {
  const at = args.indexOf('--home');
  const home = (at >= 0 ? args[at + 1] : undefined) ?? args.find((a) => a.startsWith('--home='))?.slice('--home='.length) ?? opts.env?.P2PFX_HOME ?? join(sandboxDataHome(), 'p2pfx');
  const received = join(home, 'received');
  const env = { P2PFX_DOWNLOADS: received, ...opts.env };
  const command = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '--home');
  // A home without certificates: the command fails before writing anything (and must make nothing).
  if (opts.cwd !== undefined || (command !== 'get' && command !== 'menu') || !existsSync(join(home, 'certs'))) return { cwd: opts.cwd ?? repoRoot, env };
  mkdirSync(received, { recursive: true });
  return { cwd: received, env };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Whether util-linux `script` is there to give a child a terminal. */
export function hasScript(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

export const NO_SCRIPT = 'util-linux `script` is not installed: no way to give p2pfx a terminal';

/** SIGTERM (a server closes its index), then SIGKILL after a grace period. Never throws. */
export async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), GRACE_MS);
  await gone;
  clearTimeout(timer);
}

async function stopChildren(t: TestContext): Promise<void> {
  await Promise.all([...(children.get(t) ?? [])].map(stopChild));
}

/** Runs `p2pfx ARGS` to completion; a run past its timeout is killed and fails the test. */
export async function runCli(t: TestContext, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const child = spawnCli(t, args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.on('error', () => undefined); // the child may exit before reading its input
  child.stdin.end(opts.input ?? '');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  if (timedOut) assert.fail(`p2pfx ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
  return { code, signal, stdout, stderr };
}

/** A child whose output is watched while it runs (the menu, a server). */
export interface LiveCli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (from `from` on) matches; fails after the timeout. */
  waitFor(pattern: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpExecArray>;
  write(text: string): void;
  /** Resolves with the exit code once the child exits; fails after the timeout. */
  exit(timeoutMs?: number): Promise<CliResult>;
}

/**
 * Starts `p2pfx ARGS`, its output watched as it comes. With `tty`, it runs on a pseudo-terminal
 * through `script` (check hasScript() first); stdout then carries the terminal's output, echo included.
 */
export function startCli(t: TestContext, args: string[], opts: Omit<RunOptions, 'input'> & { tty?: boolean } = {}): LiveCli {
  const child = spawnCli(t, args, opts);
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  const notify = () => watchers.forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    notify();
  });
  child.stdin.on('error', () => undefined);
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => {
    resolve([c, s]);
    notify();
  }));
  const describe = () => `\nstdout so far:\n${out}\nstderr so far:\n${err}`;
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, { from = 0, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out.slice(from));
          if (m) return done(() => resolve(m));
          if (child.exitCode !== null || child.signalCode !== null) {
            return done(() => reject(new Error(`p2pfx ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}${describe()}`)));
          }
        };
        const timer = setTimeout(() => done(() => reject(new Error(`p2pfx ${args.join(' ')} did not print ${pattern} within ${timeoutMs} ms${describe()}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          settle();
        };
        watchers.add(check);
        check();
      });
    },
    write(text) {
      child.stdin.write(text);
    },
    async exit(timeoutMs = DEFAULT_TIMEOUT_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`p2pfx ${args.join(' ')} did not exit within ${timeoutMs} ms${describe()}`)), timeoutMs);
      });
      try {
        const [code, signal] = await Promise.race([closed, timeout]);
        return { code, signal, stdout: out, stderr: err };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export interface ServingNode {
  home: string;
  host: string;
  port: number;
  /** HOST:PORT, as --peer takes it. */
  peer: string;
  nodeId: string;
  /** Where files sent to it land, as its first line says, and where that came from. */
  downloads: { dir: string; source: string };
  cli: LiveCli;
}

/** Runs `p2pfx serve --home HOME --host HOST --port 0 --json` and learns its port from its first line. */
export async function startServe(t: TestContext, home: string, host = '127.0.0.1', opts: Pick<RunOptions, 'program' | 'exactEnv' | 'env'> & { args?: string[] } = {}): Promise<ServingNode> {
  const { args = [], ...run } = opts;
  const cli = startCli(t, ['serve', '--home', home, '--host', host, '--port', '0', '--json', '--no-discovery', ...args], run);
  // A node that dies under a test is the first thing to know when a later command fails.
  cli.child.once('exit', (code, signal) => {
    if (!stopping.has(cli.child)) t.diagnostic(`p2pfx serve (${home}) exited during the test: ${code ?? signal}\nstderr: ${cli.stderr()}`);
  });
  const [line] = await cli.waitFor(/^.*\n/);
  const info = JSON.parse(line) as { host: string; port: number; nodeId: string; downloads: string; downloadsSource: string };
  assert.equal(info.host, host);
  assert.ok(Number.isInteger(info.port) && info.port > 0, `serve reported port ${info.port}`);
  return { home, host: info.host, port: info.port, peer: `${host}:${info.port}`, nodeId: info.nodeId, downloads: { dir: info.downloads, source: info.downloadsSource }, cli };
}

/** A fresh, empty directory, removed after the test once the test's processes are stopped. */
export async function tempHome(t: TestContext, prefix = 'p2pfx-cli-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    await stopChildren(t);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  return dir;
}

export interface CliNetwork {
  /** Scratch space for files to send. */
  dir: string;
  /** The CA's machine (ran `p2pfx certs`). */
  a: string;
  /** A bundle issued by a (`p2pfx certs issue beta`), used as a home. */
  b: string;
  /** Another home issued by a. */
  issue(name: string): Promise<string>;
}

/** Node a with the network CA, node b from a bundle; nothing serving yet. */
export async function cliNetwork(t: TestContext): Promise<CliNetwork> {
  const dir = await tempHome(t);
  const a = join(dir, 'a');
  const r = await runCli(t, ['certs', '--home', a, '--name', 'alpha']);
  assert.equal(r.code, 0, r.stderr);
  const issue = async (name: string) => {
    const home = join(dir, name);
    const res = await runCli(t, ['certs', 'issue', name, '--home', a, '--out', home]);
    assert.equal(res.code, 0, res.stderr);
    return home;
  };
  return { dir, a, b: await issue('beta'), issue };
}

/** A port on 127.0.0.1 where nothing listens (bound, noted, closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** Every file under `root` (relative paths), [] when it does not exist. */
export async function listFiles(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const STACK_LINE = /^\s+at /m;

/**
 * A user-facing failure: the exit code, `error CODE: …` then `hint: …` on stderr, no stack,
 * nothing on stdout. Returns the message after `error CODE: `.
 */
export function assertCliError(r: CliResult, code: string, opts: { exitCode?: number } = {}): string {
  const context = `\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  // 2 for a usage error (docs/errors.md: the code's kind), 1 for any other.
  assert.equal(r.code, opts.exitCode ?? (ERROR_CODES[code as ErrorCode]?.kind === 'usage' ? 2 : 1), `exit code${context}`);
  const m = new RegExp(`^error ${code}: (.+)$`, 'm').exec(r.stderr);
  assert.ok(m, `stderr should say "error ${code}: …"${context}`);
  assert.match(r.stderr, /^\s*hint: \S.*$/m, `stderr should carry a hint${context}`);
  assert.doesNotMatch(r.stderr, STACK_LINE, `no stack trace without --debug${context}`);
  assert.equal(r.stdout, '', `nothing on stdout when failing${context}`);
  return m[1]!;
}

export function assertNoStack(r: CliResult): void {
  assert.doesNotMatch(r.stderr, STACK_LINE, `no stack trace without --debug\nstderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, STACK_LINE, `no stack trace without --debug\nstdout: ${r.stdout}`);
}

/** Nothing half-written in a home: no file in received/, no *.part anywhere. */
export async function assertNothingWritten(home: string): Promise<void> {
  assert.deepEqual(await listFiles(join(home, 'received')), [], `received/ of ${home} should be empty`);
  const parts = (await listFiles(home)).filter((f) => f.endsWith('.part'));
  assert.deepEqual(parts, [], `no .part file should be left in ${home}`);
}

/** The chunk files held in a home's store (not the store's own temporaries). */
export async function storedChunks(home: string): Promise<string[]> {
  return (await listFiles(join(home, 'chunks'))).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(f));
}
