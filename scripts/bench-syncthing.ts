// Reference 4: Syncthing, end to end, between two throwaway instances on 127.0.0.1 that live in
// the benchmark's temp dir (each its own --home, keys, database, GUI port and sync port) and die
// with it. A shares one folder send-only, B receives it receive-only; nothing else is on: no
// discovery (global or local), no relays, no NAT traversal, no usage or crash reports, no upgrades,
// and the two know each other only as tcp://127.0.0.1:PORT.
//
// A run is timed from the REST rescan of A's folder, the new file already in it, until the file
// stands whole under its name in B's folder. That includes what Syncthing does for a transfer:
// hashing the file into blocks on A (its scan; p2pfx hashes and seals when it sends), the index
// update to B, B requesting, verifying and writing the blocks, its fsync and the rename into place.
// The file watcher is off: it would add its collection delay (10 s by default), not work.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, statSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runChild } from './bench-child.js';
import { sha256Of } from './bench-files.js';
import { mbps, secondsSince } from './bench-stats.js';
import { stopChild, type Teardown } from './bench-teardown.js';

const SYNCTHING = 'syncthing';
const FOLDER_ID = 'p2pfx-bench';
/** Start-up, the connection between the two, and a removal reaching B: seconds, normally. */
const SETTLE_TIMEOUT_MS = 60_000;
/** A run may take a minute plus one second per MB (1 MB/s) before we call it stuck. */
const RUN_TIMEOUT_BASE_MS = 60_000;
const RUN_TIMEOUT_MS_PER_MB = 1_000;
/** How often we look for the received file: small next to a run, so the timing stays sharp. */
const POLL_MS = 5;
const SETTLE_POLL_MS = 100;
const REQUEST_TIMEOUT_MS = 10_000;
const LOG_TAIL_CHARS = 4_000;
/** Syncthing dials through these (Go's proxy support); the benchmark must not leave 127.0.0.1. */
const PROXY_VARIABLES = /^(all|http|https|no)_proxy$/i;

/** Why Syncthing will not be measured, or null when it will. */
export function syncthingSkipReason(wanted: boolean): string | null {
  const installed = onPath(SYNCTHING) !== null;
  if (wanted && installed) return null;
  if (!installed) return `syncthing is not installed; apt-get install syncthing and pass --syncthing${wanted ? '' : ' (or BENCH_SYNCTHING=1)'}`;
  return 'not asked for; pass --syncthing (or BENCH_SYNCTHING=1) to time Syncthing between two throwaway instances on 127.0.0.1';
}

export interface SyncthingOptions {
  dir: string;
  file: string;
  sizeBytes: number;
  runs: number;
  teardown: Teardown;
  /** The file's SHA-256 (hex) when the caller knows it already; otherwise we hash the file. */
  sha256?: string;
}

/** MB/s of each run, end to end (see the top of this file); the received bytes are checked once. */
export async function syncthingRuns(opts: SyncthingOptions): Promise<number[]> {
  const binary = onPath(SYNCTHING);
  if (binary === null) throw new Error('syncthing is not on PATH');
  await mkdir(opts.dir, { recursive: true });
  const expected = opts.sha256 ?? await sha256Of(opts.file);
  const pair = await startPair(binary, opts.dir, opts.teardown);
  const runTimeoutMs = Math.ceil(RUN_TIMEOUT_BASE_MS + (opts.sizeBytes / 1e6) * RUN_TIMEOUT_MS_PER_MB);
  const results: number[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    // A new name per run, and the previous file deleted through Syncthing first (removeEverywhere),
    // so B has no local copy of any block to reuse: every run moves all the bytes.
    const name = `run-${run}.bin`;
    await placeFile(opts.file, join(pair.a.folder, name));
    const started = process.hrtime.bigint();
    const deadline = Date.now() + runTimeoutMs;
    await rest(pair.a, 'POST', `/rest/db/scan?folder=${FOLDER_ID}`, runTimeoutMs);
    const received = join(pair.b.folder, name);
    await waitFor(`${name} to arrive whole in B's folder`, deadline, POLL_MS, pair, async () => (await sizeOf(received)) === opts.sizeBytes);
    results.push(mbps(opts.sizeBytes, secondsSince(started)));
    if (run === 1) await checkReceived(received, expected);
    await removeEverywhere(pair, name);
  }
  await Promise.all([pair.a.stop(), pair.b.stop()]); // not left idling beside the p2pfx runs
  return results;
}

interface Instance {
  /** "A" (sends) or "B" (receives), for messages. */
  name: string;
  home: string;
  folder: string;
  deviceId: string;
  guiPort: number;
  syncPort: number;
  apiKey: string;
  child: ChildProcess;
  /** Ends it (SIGTERM, then its process group swept); idempotent, also run by the teardown. */
  stop: () => Promise<void>;
  /** The last few KB of its log, for error messages. */
  logTail: () => string;
}

interface Pair { a: Instance; b: Instance }

/** Both instances configured, running, connected to each other, their folder idle. */
async function startPair(binary: string, dir: string, teardown: Teardown): Promise<Pair> {
  const [guiA, syncA, guiB, syncB] = await freePorts(4);
  const a = await prepare(binary, { name: 'A', dir, guiPort: guiA!, syncPort: syncA! }, teardown);
  const b = await prepare(binary, { name: 'B', dir, guiPort: guiB!, syncPort: syncB! }, teardown);
  await writeConfig(a, b, 'sendonly');
  await writeConfig(b, a, 'receiveonly');
  const pair: Pair = { a: start(binary, a, teardown), b: start(binary, b, teardown) };
  const settleBy = Date.now() + SETTLE_TIMEOUT_MS;
  for (const inst of [pair.a, pair.b]) {
    await waitFor(`Syncthing ${inst.name}'s REST API on 127.0.0.1:${inst.guiPort}`, settleBy, SETTLE_POLL_MS, pair, () => answers(inst));
  }
  await waitFor('A and B to connect', settleBy, SETTLE_POLL_MS, pair, () => connected(pair.a, pair.b.deviceId));
  await waitFor('the shared folder to be idle on A and B', settleBy, SETTLE_POLL_MS, pair, async () => (await idle(pair.a)) && (await idle(pair.b)));
  return pair;
}

type Prepared = Omit<Instance, 'child' | 'stop' | 'logTail'> & { configVersion: string };

/** Keys and certificate from `syncthing generate`; the device ID they make; the folder with its marker. */
async function prepare(binary: string, where: { name: string; dir: string; guiPort: number; syncPort: number }, teardown: Teardown): Promise<Prepared> {
  const home = join(where.dir, `home-${where.name.toLowerCase()}`);
  const folder = join(where.dir, `folder-${where.name.toLowerCase()}`);
  // --skip-port-probing: otherwise it tries binding the default ports on all interfaces.
  await runChild(binary, ['generate', '--home', home, '--no-default-folder', '--skip-port-probing'], teardown);
  const { stdout } = await runChild(binary, ['serve', '--home', home, '--device-id'], teardown);
  const deviceId = stdout.trim();
  if (!/^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/.test(deviceId)) throw new Error(`syncthing --device-id printed ${JSON.stringify(stdout.slice(0, 100))}, not a device ID`);
  // We write the whole config ourselves, under the version this Syncthing generated, so it
  // migrates nothing and takes our settings as they are.
  const generated = await readFile(join(home, 'config.xml'), 'utf8');
  const configVersion = /<configuration version="(\d+)"/.exec(generated)?.[1];
  if (configVersion === undefined) throw new Error(`no configuration version in ${join(home, 'config.xml')}`);
  // B refuses to write into a folder without its marker (it could be an unmounted disk); A's scan too.
  await mkdir(join(folder, '.stfolder'), { recursive: true });
  return { name: where.name, home, folder, deviceId, guiPort: where.guiPort, syncPort: where.syncPort, apiKey: randomBytes(24).toString('hex'), configVersion };
}

/**
 * One folder shared with the peer, sendonly on A and receiveonly on B, rescanned only when we ask
 * (no interval, no watcher); the peer known by its address on 127.0.0.1 only. Options left out
 * take Syncthing's defaults; the ones that would reach beyond 127.0.0.1, or change how the
 * process runs, are set here. setLowPriority is off: by default Syncthing lowers its own CPU and
 * I/O priority, which would handicap it next to p2pfx.
 */
async function writeConfig(self: Prepared, peer: Prepared, folderType: 'sendonly' | 'receiveonly'): Promise<void> {
  const device = (d: Prepared): string => [
    `    <device id="${d.deviceId}" name="${d.name}" compression="metadata" introducer="false">`,
    `        <address>${listenAddress(d)}</address>`,
    '        <autoAcceptFolders>false</autoAcceptFolders>',
    '    </device>',
  ].join('\n');
  const xml = [
    `<configuration version="${self.configVersion}">`,
    `    <folder id="${FOLDER_ID}" label="${FOLDER_ID}" path="${escapeXml(self.folder)}" type="${folderType}" rescanIntervalS="0" fsWatcherEnabled="false" ignorePerms="false" autoNormalize="true">`,
    '        <filesystemType>basic</filesystemType>',
    `        <device id="${self.deviceId}"></device>`,
    `        <device id="${peer.deviceId}"></device>`,
    '    </folder>',
    device(self),
    device(peer),
    '    <gui enabled="true" tls="false" debugging="false">',
    `        <address>127.0.0.1:${self.guiPort}</address>`,
    `        <apikey>${self.apiKey}</apikey>`,
    '    </gui>',
    '    <options>',
    `        <listenAddress>${listenAddress(self)}</listenAddress>`,
    '        <globalAnnounceEnabled>false</globalAnnounceEnabled>',
    '        <localAnnounceEnabled>false</localAnnounceEnabled>',
    '        <relaysEnabled>false</relaysEnabled>',
    '        <natEnabled>false</natEnabled>',
    '        <urAccepted>-1</urAccepted>',
    '        <crashReportingEnabled>false</crashReportingEnabled>',
    '        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>',
    '        <startBrowser>false</startBrowser>',
    '        <restartOnWakeup>false</restartOnWakeup>',
    '        <setLowPriority>false</setLowPriority>',
    // The side that starts first fails its first dial; retry within a second, not the default minute.
    '        <reconnectionIntervalS>1</reconnectionIntervalS>',
    '    </options>',
    '</configuration>',
    '',
  ].join('\n');
  await writeFile(join(self.home, 'config.xml'), xml, { mode: 0o600 });
}

function listenAddress(inst: Pick<Instance, 'syncPort'>): string {
  return `tcp://127.0.0.1:${inst.syncPort}`;
}

/**
 * `syncthing serve` runs as two processes: a monitor and the Syncthing it starts (--no-restart only
 * stops the monitor from restarting it). A SIGTERM to the monitor is passed on and both exit; the
 * pair gets a process group of its own, swept afterwards, so no inner process can outlive us.
 */
function start(binary: string, prepared: Prepared, teardown: Teardown): Instance {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !PROXY_VARIABLES.test(key)));
  const child = spawn(binary, ['serve', '--home', prepared.home, '--no-browser', '--no-restart', '--no-upgrade', '--no-default-folder'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, STNORESTART: '1', STNOUPGRADE: '1' },
    detached: true,
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= child.pid === undefined ? Promise.resolve() : stopChild(child).then(() => killGroup(child)));
  teardown.add(stop);
  let log = '';
  const keep = (d: Buffer): void => { log = (log + d.toString()).slice(-LOG_TAIL_CHARS); };
  child.stdout!.on('data', keep); // read, or a full pipe would stall it
  child.stderr!.on('data', keep);
  child.on('error', (err) => { log += `\ncannot run ${binary}: ${err.message}`; });
  const { configVersion: _, ...rest } = prepared;
  return { ...rest, child, stop, logTail: () => log.trim() };
}

/** SIGKILL to whatever is left in the instance's process group; nothing left is the normal case. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone
  }
}

/** Puts the file into A's folder without copying its bytes (a hard link), or copies it. Not timed. */
async function placeFile(source: string, dest: string): Promise<void> {
  try {
    await link(source, dest);
  } catch {
    await copyFile(source, dest);
  }
}

/**
 * Deletes the file on A and lets the deletion reach B (rather than deleting B's copy behind its
 * back, which a receive-only folder would keep as a local change): afterwards neither side has
 * the blocks, and B's folder is idle again.
 */
async function removeEverywhere(pair: Pair, name: string): Promise<void> {
  await rm(join(pair.a.folder, name), { force: true });
  await rest(pair.a, 'POST', `/rest/db/scan?folder=${FOLDER_ID}`, SETTLE_TIMEOUT_MS);
  const received = join(pair.b.folder, name);
  await waitFor(`the removal of ${name} to reach B`, Date.now() + SETTLE_TIMEOUT_MS, SETTLE_POLL_MS, pair, async () => (await sizeOf(received)) === null && (await idle(pair.b)));
}

/** After the timing: the received bytes are the source's bytes. */
async function checkReceived(path: string, expected: string): Promise<void> {
  const actual = await sha256Of(path);
  if (actual !== expected) throw new Error(`Syncthing delivered different bytes: SHA-256 ${actual}, expected ${expected}`);
}

/** Calls `check` every `everyMs` until it is true; throws when the deadline passes or an instance exits. */
async function waitFor(what: string, deadline: number, everyMs: number, pair: Partial<Pair>, check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    for (const inst of [pair.a, pair.b]) {
      if (inst && (inst.child.exitCode !== null || inst.child.signalCode !== null)) {
        throw new Error(`Syncthing ${inst.name} exited while waiting for ${what}:\n${inst.logTail()}`);
      }
    }
    if (Date.now() > deadline) {
      const logs = [pair.a, pair.b].filter((i) => i !== undefined).map((i) => `--- Syncthing ${i.name} log (tail):\n${i.logTail()}`);
      throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
    }
    await sleep(everyMs);
  }
}

/** The REST API with the instance's API key; resolves with the parsed JSON body, if any. */
async function rest<T>(inst: Instance, method: 'GET' | 'POST', path: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T | undefined> {
  const res = await fetch(`http://127.0.0.1:${inst.guiPort}${path}`, { method, headers: { 'X-API-Key': inst.apiKey }, signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  if (!res.ok) throw new Error(`Syncthing ${inst.name}: ${method} ${path}: HTTP ${res.status} ${body.trim()}`);
  return body.trim() === '' ? undefined : JSON.parse(body) as T;
}

/** Never throws: whether the REST API answers (it is the last thing Syncthing starts). */
async function answers(inst: Instance): Promise<boolean> {
  try {
    return (await rest<{ ping?: string }>(inst, 'GET', '/rest/system/ping'))?.ping === 'pong';
  } catch {
    return false;
  }
}

async function connected(inst: Instance, peerId: string): Promise<boolean> {
  const status = await rest<{ connections: Record<string, { connected: boolean }> }>(inst, 'GET', '/rest/system/connections');
  return status?.connections[peerId]?.connected === true;
}

async function idle(inst: Instance): Promise<boolean> {
  const status = await rest<{ state: string; needTotalItems?: number }>(inst, 'GET', `/rest/db/status?folder=${FOLDER_ID}`);
  return status?.state === 'idle' && (status.needTotalItems ?? 0) === 0;
}


/** Distinct free ports on 127.0.0.1: all held open together, so no two are the same. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer().listen(0, '127.0.0.1');
      servers.push(server);
      await once(server, 'listening');
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** The full path of an executable on PATH, or null. */
function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The size of the file at `path`, or null while there is none. */
async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}
