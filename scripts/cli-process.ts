// Runs the built p2pfx CLI as child processes (for the demo and the benchmark).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** How to run p2pfx: this node with the built CLI, unless an installed command is named. */
export type Program = [command: string, ...leading: string[]];
const BUILT: Program = [process.execPath, CLI];

export interface Ran { code: number; stdout: string; stderr: string }

export async function p2pfx(args: string[], opts: { env?: NodeJS.ProcessEnv; program?: Program } = {}): Promise<Ran> {
  const [command, ...leading] = opts.program ?? BUILT;
  const child = spawn(command, [...leading, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code: code ?? 1, stdout, stderr };
}

/** Runs a command that must succeed and print one JSON object; throws with its stderr otherwise. */
export async function p2pfxJson<T>(args: string[], program?: Program): Promise<T> {
  const r = await p2pfx([...args, '--json'], { program });
  if (r.code !== 0) throw new Error(`p2pfx ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface ServingNode {
  child: ChildProcess;
  port: number;
  nodeId: string;
  /** The next JSON line the node prints that `match` accepts (e.g. a file it reassembled), within timeoutMs. */
  event<T>(match: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts `p2pfx serve` on 127.0.0.1 and a free port; resolves once it listens. What is sent to it
 * lands in HOME/received (`--downloads`): a throwaway home keeps it, never the user's ~/Downloads.
 */
export async function serve(home: string, host = '127.0.0.1', extra: string[] = [], program: Program = BUILT): Promise<ServingNode> {
  const [command, ...leading] = program;
  // `extra` are node's own flags (the benchmark's profiling), before the CLI's path.
  const child = spawn(command, [...extra, ...leading, 'serve', '--home', home, '--host', host, '--port', '0', '--json', '--downloads', join(home, 'received')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { first, event } = jsonLines(child);
  const info = JSON.parse(await first) as { port: number; nodeId: string };
  return {
    child, port: info.port, nodeId: info.nodeId, event,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface LiveCommand<T> { first: T; event<E>(match: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<E>; exit: Promise<number>; kill(): void }

/** Starts a long-running command with --json (e.g. `invite`); resolves with its first JSON line. */
export async function start<T>(args: string[], program: Program = BUILT): Promise<LiveCommand<T>> {
  const [command, ...leading] = program;
  const child = spawn(command, [...leading, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { first, event } = jsonLines(child);
  const exit = once(child, 'exit').then(([code]) => (code as number | null) ?? 1);
  return { first: JSON.parse(await first) as T, event, exit, kill: () => void child.kill('SIGTERM') };
}

/** The first stdout line of a child, and a way to wait for a later JSON line. */
function jsonLines(child: ChildProcess): { first: Promise<string>; event: ServingNode['event'] } {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout! });
  const seen: Record<string, unknown>[] = [];
  const waiting = new Set<() => void>();
  const first = Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    once(child, 'exit').then(() => { throw new Error(`p2pfx exited:\n${stderr}`); }),
  ]);
  void first.then(() => lines.on('line', (line) => {
    try {
      seen.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiting) w();
  }), () => undefined);
  const event = <E>(match: (e: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<E> => new Promise((resolve, reject) => {
    const check = () => {
      const found = seen.find(match);
      if (found) {
        clearTimeout(timer);
        waiting.delete(check);
        resolve(found as E);
      }
    };
    const timer = setTimeout(() => {
      waiting.delete(check);
      reject(new Error(`no such event within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    waiting.add(check);
    check();
  });
  return { first, event };
}
