// Child processes for the benchmark: run one to completion (tracked by the teardown, so an
// interrupted benchmark leaves nothing behind) and read its JSON answer.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { basename } from 'node:path';
import { CLI } from './cli-process.js';
import type { Teardown } from './bench-teardown.js';

export interface Finished { stdout: string; stderr: string }

/** Resolves with the output of a command that exited 0; rejects with its stderr otherwise. */
export async function runChild(command: string, args: string[], teardown: Teardown): Promise<Finished> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  teardown.track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const [code, signal] = (await Promise.race([
    once(child, 'close'),
    once(child, 'error').then(([err]) => { throw new Error(`cannot run ${command}: ${(err as Error).message}`); }),
  ])) as [number | null, NodeJS.Signals | null];
  if (code !== 0) {
    const how = signal ? `killed by ${signal}` : `exit ${code}`;
    throw new Error(`${describe(command, args)} failed (${how}):\n${stderr.trim() || stdout.trim()}`);
  }
  return { stdout, stderr };
}

/** Runs a Node script (this Node) that prints one JSON object. */
export async function runNodeJson<T>(script: string, args: string[], teardown: Teardown): Promise<T> {
  const { stdout } = await runChild(process.execPath, [script, ...args], teardown);
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`${describe(script, args)} printed no JSON: ${stdout.slice(0, 200)}`);
  }
}

/** `p2pfx ARGS --json`, from the built CLI. */
export function p2pfxJson<T>(args: string[], teardown: Teardown): Promise<T> {
  return runNodeJson<T>(CLI, [...args, '--json'], teardown);
}

function describe(command: string, args: string[]): string {
  if (args[0] === CLI) return ['p2pfx', ...args.slice(1)].join(' ');
  return [basename(command), ...args].join(' ');
}
