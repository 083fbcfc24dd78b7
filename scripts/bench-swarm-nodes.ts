// The swarm benchmark's p2pfx processes, each inside a host's network namespace (scripts/netns.ts):
// holders running `p2pfx serve`, and one-shot commands (send, get) on the getter. `ip netns exec`
// execs the command in place, so the pid of the child is node's own: checked (/proc/PID/exe)
// before a holder is metered or killed by it.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI } from './cli-process.js';
import { ProcessMeter } from './bench-proc.js';
import type { Lan, LanHost } from './netns.js';

/** Every holder serves here, on its own address. */
export const SERVE_PORT = 8443;
const START_TIMEOUT_MS = 30_000;

export interface Holder {
  /** 1-based, as printed: holder 1 is 198.18.0.2. */
  number: number;
  host: LanHost;
  home: string;
  /** HOST:PORT, as --peer takes it. */
  peer: string;
  child: ChildProcessWithoutNullStreams;
  /** CPU and peak RSS of the serving node process. */
  meter: ProcessMeter;
}

export interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; wallS: number }

/** The environment of every p2pfx child: the caller's, without any P2PFX_* that would change what it does. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('P2PFX_')) env[k] = v;
  return { ...env, ...extra };
}

/** Whether `pid` is a process of the node binary running this script (not `ip`, not a shell). */
export async function isThisNode(pid: number): Promise<boolean> {
  const [exe, node] = await Promise.all([readlink(`/proc/${pid}/exe`).catch(() => ''), realpath(process.execPath)]);
  return exe === node;
}

/** Starts `p2pfx serve` for `home` on `host` (no discovery, port 8443, every address) and waits until it listens. */
export async function startHolder(lan: Lan, number: number, host: LanHost, home: string): Promise<Holder> {
  const child = lan.spawnIn(host, process.execPath, [CLI, 'serve', '--home', home, '--host', '0.0.0.0', '--port', String(SERVE_PORT), '--no-discovery', '--json', '--downloads', join(home, 'received')], { env: childEnv() });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const lines = createInterface({ input: child.stdout });
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = await Promise.race([
      new Promise<string>((resolve) => lines.once('line', resolve)),
      new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`p2pfx serve on ${host.address} exited (${code ?? signal}):\n${stderr.trim()}`)))),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`p2pfx serve on ${host.address} did not listen within ${START_TIMEOUT_MS} ms:\n${stderr.trim()}`)), START_TIMEOUT_MS); }),
    ]);
    const info = JSON.parse(first) as { port?: number };
    if (info.port !== SERVE_PORT) throw new Error(`p2pfx serve on ${host.address} said ${first.trim()}`);
  } finally {
    clearTimeout(timer);
  }
  // Later lines (events) are read and dropped, so that the pipe never fills.
  lines.on('line', () => undefined);
  if (!(await isThisNode(child.pid!))) throw new Error(`pid ${child.pid} on ${host.address} is not a node process: \`ip netns exec\` did not exec in place, the figures would be another process's`);
  return { number, host, home, peer: `${host.address}:${SERVE_PORT}`, child, meter: new ProcessMeter(child.pid!) };
}

/** SIGKILL, as a machine that loses power or a process the OOM killer picks; resolves once it is gone. */
export async function killHolder(holder: Holder): Promise<void> {
  const child = holder.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

/**
 * Starts `p2pfx ARGS --json` on `host`; `done` resolves once it has exited (any code) with its
 * output and its wall time from spawn to exit. Past `timeoutMs` it is killed (SIGKILL).
 */
export function startCliIn(lan: Lan, host: LanHost, args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number }): { child: ChildProcessWithoutNullStreams; done: Promise<Ran> } {
  const started = process.hrtime.bigint();
  const child = lan.spawnIn(host, process.execPath, [CLI, ...args, '--json'], { env: opts.env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs);
  const done = new Promise<Ran>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code, signal, stdout, stderr: timedOut ? `${stderr}\n(killed after ${opts.timeoutMs} ms)` : stderr, wallS });
    });
  });
  return { child, done };
}

/** Runs `p2pfx ARGS --json` on `host`; its JSON answer and wall time, or an error with its stderr. */
export async function cliJsonIn<T>(lan: Lan, host: LanHost, args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ out: T; wallS: number }> {
  const r = await startCliIn(lan, host, args, opts).done;
  if (r.code !== 0) throw new Error(`p2pfx ${args.join(' ')} on ${host.address} failed (${r.code ?? r.signal}):\n${r.stderr.trim() || r.stdout.trim()}`);
  try {
    return { out: JSON.parse(r.stdout) as T, wallS: r.wallS };
  } catch {
    throw new Error(`p2pfx ${args.join(' ')} printed no JSON: ${r.stdout.slice(0, 200)}`);
  }
}
