// A LAN made of Linux network namespaces, for tests and benchmarks that need several machines (multicast,
// source addresses): N "hosts", each a namespace with `lo` and one veth `eth0` at 198.18.0.(i+1)/24
// (RFC 2544's benchmarking range: never a real network), all joined to a bridge that lives in a
// namespace of its own. Nothing touches the host's network. Needs root and iproute2; tests ask
// netnsAvailable() first and skip with its reason. Namespaces are named p2pfx-<pid>-<n> and are
// deleted by the caller's cleanup (a test's t.after, a benchmark's teardown: anything with an
// `after(fn)`) once the processes started in them are stopped, or at exit at the latest.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnOptionsWithoutStdio } from 'node:child_process';

export const LAN_PREFIX = '198.18.0';
export const LAN_PREFIX_LENGTH = 24;
/** The name of each host's veth, inside its namespace. */
export const HOST_IFACE = 'eth0';

/** Any `ip` command here is quick; past this it is stuck and killed. */
const IP_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 2_000;

export interface ExecResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface LanHost {
  /** The namespace's name, for exec/spawnIn. */
  ns: string;
  /** Its address on the LAN (198.18.0.x). */
  address: string;
  iface: string;
  /** Its veth's other end, a port of the bridge (in Lan.bridgeNs): what leaves it goes to this host. */
  port: string;
}

/**
 * Where makeLan registers the LAN's removal (one function, which never throws): node:test's
 * TestContext is one (t.after); a benchmark passes its teardown. When it runs relative to other
 * cleanups is the registrar's order.
 */
export interface CleanupRegistrar {
  after(fn: () => Promise<void>): void;
}

export interface Lan {
  hosts: LanHost[];
  /** The namespace holding the bridge. */
  bridgeNs: string;
  /** Starts `cmd args` in a host's namespace; stopped (SIGTERM, then SIGKILL) before the LAN is removed. */
  spawnIn(host: LanHost, cmd: string, args: string[], opts?: SpawnOptionsWithoutStdio): ChildProcessWithoutNullStreams;
}

let counter = 0;
/** Namespaces made by this process and not deleted yet: removed at exit if a test could not. */
const live = new Set<string>();
let exitHook = false;

function nextName(): string {
  return `p2pfx-${process.pid}-${counter++}`;
}

/** Runs a command to completion (bounded by a timeout); never throws for a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = IP_TIMEOUT_MS): Promise<ExecResult> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(cmd, args, { stdio: 'pipe' });
    } catch (err) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(err) });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err) });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `ip netns exec NS cmd args`, to completion. */
export function exec(ns: string, cmd: string, args: string[], timeoutMs = IP_TIMEOUT_MS): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
}

/**
 * `ip netns exec NS cmd args` as a child (ip execs the command: the child is the command itself).
 * The caller stops it; Lan.spawnIn does that for you.
 */
export function spawnIn(ns: string, cmd: string, args: string[], opts: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { ...opts, stdio: 'pipe' });
}

/** `ip ARGS`; throws with ip's own words when it fails. */
async function ip(...args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
}

let availability: Promise<string | null> | null = null;

/**
 * null when this process can build a Lan, or why not (not root, no iproute2, no namespaces,
 * veth or bridge, `ip netns exec` refused). Tried once per process, on a namespace of its own.
 */
export function netnsAvailable(): Promise<string | null> {
  availability ??= probe();
  return availability;
}

async function probe(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root, as CI does)';
  const version = await run('ip', ['-V']);
  if (version.code !== 0) return `iproute2's \`ip\` is not usable (${version.stderr.trim() || 'not found'}); install it (apt-get install -y iproute2)`;
  const ns = nextName();
  const created = await run('ip', ['netns', 'add', ns]);
  if (created.code !== 0) return `\`ip netns add\` failed: ${created.stderr.trim()}`;
  track(ns);
  try {
    const steps: [string, string[]][] = [
      ['a bridge', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']],
      ['a veth pair', ['-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']],
    ];
    for (const [what, args] of steps) {
      const r = await run('ip', args);
      if (r.code !== 0) return `cannot create ${what} in a namespace: ${r.stderr.trim()}`;
    }
    const inside = await exec(ns, 'true', []);
    if (inside.code !== 0) return `\`ip netns exec\` failed: ${inside.stderr.trim()}`;
    return null;
  } finally {
    await removeNs(ns);
  }
}

/**
 * Builds a LAN of `n` hosts (198.18.0.1, .2, …) and removes it through `cleanup.after` (a test's
 * t.after, or a benchmark's teardown): the processes started with spawnIn are stopped first, then
 * the namespaces deleted. Each host has `lo` up,
 * eth0 up and a route for 224.0.0.0/4 on eth0; the bridge floods multicast (no IGMP snooping, so
 * no join can be missed). Call netnsAvailable() first.
 */
export async function makeLan(cleanup: CleanupRegistrar, n: number): Promise<Lan> {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error(`makeLan: 1..250 hosts, not ${n}`);
  const made: string[] = [];
  const children = new Set<ChildProcessWithoutNullStreams>();
  // Registered before anything is made, so that a failure half-way still cleans up.
  cleanup.after(async () => {
    await Promise.all([...children].map(stop));
    await Promise.all(made.map(removeNs));
  });
  const add = async (): Promise<string> => {
    const ns = nextName();
    await ip('netns', 'add', ns);
    made.push(ns);
    track(ns);
    return ns;
  };
  const bridgeNs = await add();
  await ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  await ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
  const hosts: LanHost[] = [];
  for (let i = 0; i < n; i++) {
    const ns = await add();
    const port = `v${i}`;
    const address = `${LAN_PREFIX}.${i + 1}`;
    await ip('-n', bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', HOST_IFACE, 'netns', ns);
    await ip('-n', bridgeNs, 'link', 'set', port, 'master', 'br0');
    await ip('-n', bridgeNs, 'link', 'set', port, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/${LAN_PREFIX_LENGTH}`, 'dev', HOST_IFACE);
    await ip('-n', ns, 'link', 'set', HOST_IFACE, 'up');
    await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', HOST_IFACE);
    hosts.push({ ns, address, iface: HOST_IFACE, port });
  }
  return {
    hosts,
    bridgeNs,
    spawnIn(host, cmd, args, opts) {
      const child = spawnIn(host.ns, cmd, args, opts);
      children.add(child);
      child.once('exit', () => children.delete(child));
      child.on('error', () => undefined); // reported by its exit; never an unhandled 'error'
      return child;
    },
  };
}

/** SIGTERM, then SIGKILL after a grace period. Never throws. */
async function stop(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

/** Deleting a namespace also deletes its interfaces (and so the veth peers in the others). */
async function removeNs(ns: string): Promise<void> {
  await run('ip', ['netns', 'delete', ns]);
  live.delete(ns);
}

function track(ns: string): void {
  live.add(ns);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const left of live) spawnSync('ip', ['netns', 'delete', left], { stdio: 'ignore', timeout: IP_TIMEOUT_MS });
  });
}
