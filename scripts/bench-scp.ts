// Reference 3: scp of the same file to 127.0.0.1, through a throwaway sshd that lives in the
// benchmark's temp dir (its own host key, one authorized key, its own port) and dies with it.
// The folder benchmark (bench-folder.ts) starts the same sshd for scp -r and rsync -a.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runChild } from './bench-child.js';
import { mbps, secondsSince } from './bench-stats.js';
import type { Teardown } from './bench-teardown.js';

const SSHD = '/usr/sbin/sshd';
export const SCP = '/usr/bin/scp';
/** sshd's privilege-separation directory, compiled in; the package's service normally makes it. */
const PRIVSEP_DIR = '/run/sshd';
const LISTEN_TIMEOUT_MS = 10_000;

/** Why scp will not be measured, or null when it will. */
export function scpSkipReason(wanted: boolean): string | null {
  const installed = existsSync(SSHD) && existsSync(SCP);
  if (wanted && installed) return null;
  if (!installed) return `no OpenSSH server here; apt-get install openssh-server and pass --scp${wanted ? '' : ' (or BENCH_SCP=1)'}`;
  return 'not asked for; pass --scp (or BENCH_SCP=1) to time scp through a throwaway sshd on 127.0.0.1';
}

export interface ScpOptions { dir: string; file: string; sizeBytes: number; runs: number; teardown: Teardown }

/** MB/s of each scp run (wall time of the scp process, its SSH handshake included). */
export async function scpRuns(opts: ScpOptions): Promise<number[]> {
  const sshd = await startSshd(opts.dir, opts.teardown);
  const dest = join(opts.dir, 'received.bin');
  const results: number[] = [];
  for (let run = 0; run < opts.runs; run++) {
    const started = process.hrtime.bigint();
    await runChild(SCP, ['-q', '-B', ...sshClientOptions(sshd), '-P', String(sshd.port), opts.file, sshTarget(dest)], opts.teardown);
    results.push(mbps(opts.sizeBytes, secondsSince(started)));
    await rm(dest, { force: true });
  }
  return results;
}

/** A running throwaway sshd: its port on 127.0.0.1 and the private key it lets in. */
export interface Sshd { port: number; key: string }

/** ssh/scp options for the throwaway sshd: its key, no host key check, nothing asked, errors only. */
export function sshClientOptions(sshd: Sshd): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-i', sshd.key];
}

/** USER@127.0.0.1:PATH, this user (the sshd lets only its key in). */
export function sshTarget(path: string): string {
  return `${userInfo().username}@127.0.0.1:${path}`;
}

/** Starts an sshd of our own on 127.0.0.1 and a free port, its keys in `dir` (made here); killed by the teardown. */
export async function startSshd(dir: string, teardown: Teardown): Promise<Sshd> {
  await mkdir(dir, { recursive: true });
  const hostKey = join(dir, 'host_ed25519');
  const key = join(dir, 'client_ed25519');
  const authorized = join(dir, 'authorized_keys');
  await runChild('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey], teardown);
  await runChild('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key], teardown);
  await copyFile(`${key}.pub`, authorized);
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  await writeFile(config, [
    'ListenAddress 127.0.0.1', `Port ${port}`, `HostKey ${hostKey}`, `AuthorizedKeysFile ${authorized}`,
    'PermitRootLogin yes', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'Subsystem sftp internal-sftp', '',
  ].join('\n'));
  await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  const sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  teardown.track(sshd);
  let stderr = '';
  sshd.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (sshd.exitCode !== null || Date.now() > deadline) throw new Error(`the throwaway sshd did not start:\n${stderr.trim()}`);
    await sleep(50);
  }
  return { port, key };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Never throws: whether something accepts TCP connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  const socket = createConnection({ host: '127.0.0.1', port });
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}
