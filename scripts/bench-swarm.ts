// npm run bench:swarm: `p2pfx get` from 1, 2, 4, 8 holders over real, rate-limited links. The
// getter and each holder are hosts of a LAN of network namespaces on one bridge (scripts/netns.ts);
// each holder runs `p2pfx serve` and its upload is limited with tc (scripts/netns-shape.ts), so
// what is measured is how well the swarm scheduler adds links up, not the CPU (as long as k × the
// rate stays under what the getter takes unshaped: measured first, and said when it does not).
// Scenarios: a holder slowed to a tenth (--slow), a holder killed halfway (--kill), and one send
// to four recipients whose downloads are limited against a send to one (--send-many). Needs root
// and iproute2. Prints a table, or with --json one JSON object; progress goes to stderr.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holderHosts, parseSwarmArgs, SEND_MANY_RECIPIENTS, SWARM_USAGE, type SwarmOptions } from './bench-swarm-args.js';
import { p2pfxJson } from './bench-child.js';
import { emptyChunkStore, sha256Of, touchNew, writeRandomFile } from './bench-files.js';
import { describeMachine } from './bench-machine.js';
import { mbps, median, secondsSince, spread } from './bench-stats.js';
import { Teardown } from './bench-teardown.js';
import { childEnv, cliJsonIn, killHolder, startCliIn, startHolder, type Holder } from './bench-swarm-nodes.js';
import { formatSwarmReport, summarizeRow, type GetRun, type KillResult, type SendManyResult, type SlowResult, type SwarmResult } from './bench-swarm-report.js';
import { clearEgress, egressSentBytes, limitEgress, rateMBps, tcUnavailable } from './netns-shape.js';
import { makeLan, netnsAvailable, type Lan, type LanHost } from './netns.js';

const started = process.hrtime.bigint();
/** A command that moves nothing big (certificates, a manifest) is stuck past this. */
const SHORT_TIMEOUT_MS = 120_000;

function log(text: string): void {
  process.stderr.write(`[${secondsSince(started).toFixed(1).padStart(6)} s] ${text}\n`);
}

interface GetOutput {
  fileId: string; path: string; size: number; seconds: number; chunkCount: number; fetchedChunks: number; localChunks: number;
  peers: Array<{ peer: string; chunks: number }>;
  peerProblems: Array<{ peer: string; code: string; message: string }>;
  process: { cpuS: number; peakRssMiB: number };
}
interface SendOutput { fileId: string; chunks: number; sentChunks: number; peers: Array<{ peer: string; chunks?: number; sentChunks?: number; seconds?: number; error?: { code: string; message: string } }> }

/** The LAN, its nodes, and the file every holder holds. */
class Swarm {
  readonly linkMBps: number;
  fileId = '';
  sha256 = '';
  constructor(
    readonly opts: SwarmOptions,
    readonly lan: Lan,
    readonly root: string,
    readonly getter: LanHost,
    readonly getterHome: string,
    readonly holders: Holder[],
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.linkMBps = rateMBps(opts.rate);
  }

  get source(): string {
    return join(this.root, 'source.bin');
  }

  /** A bound on a command that moves the file `files` times over links of `bits` each, with room for a slow, shared machine. */
  timeoutMs(bits: number, files = 1): number {
    return SHORT_TIMEOUT_MS + 3 * files * (this.opts.sizeBytes / (bits / 8)) * 1000;
  }

  /** Every holder's upload at the rate; `bits` for some (by number). */
  async shapeUplinks(bits: number, which: readonly Holder[] = this.holders): Promise<void> {
    for (const h of which) await limitEgress(h.host.ns, h.host.iface, bits);
  }

  async clearUplinks(which: readonly Holder[] = this.holders): Promise<void> {
    for (const h of which) await clearEgress(h.host.ns, h.host.iface);
  }

  /**
   * One `p2pfx get` of the file from `from`, into an empty folder with nothing of it held here;
   * checked (size, SHA-256, every chunk fetched), then removed. With `kill`, that holder is
   * SIGKILLed `atS` seconds after the get starts, and started again once the get is over.
   */
  async get(from: readonly Holder[], what: string, kill?: { holder: Holder; atS: number }, timeoutMs = this.timeoutMs(this.opts.rate)): Promise<GetRun> {
    const out = join(this.root, 'got');
    await rm(out, { recursive: true, force: true });
    await emptyChunkStore(join(this.getterHome, 'chunks'));
    for (const h of from) await h.meter.begin();
    const sentBefore = await Promise.all(from.map((h) => egressSentBytes(h.host.ns, h.host.iface)));
    const args = ['get', this.fileId, '--home', this.getterHome, ...from.flatMap((h) => ['--peer', h.peer]), '--out', out];
    const run = startCliIn(this.lan, this.getter, args, { env: this.env, timeoutMs });
    const killing: { done: Promise<void> | null } = { done: null };
    const timer = kill ? setTimeout(() => { killing.done = killHolder(kill.holder); }, kill.atS * 1000) : undefined;
    const r = await run.done;
    clearTimeout(timer);
    await killing.done;
    const holderFigures = await Promise.all(from.map((h) => (h.child.exitCode === null && h.child.signalCode === null ? h.meter.end() : null)));
    const sentAfter = await Promise.all(from.map((h) => egressSentBytes(h.host.ns, h.host.iface)));
    if (kill) {
      if (!killing.done) throw new Error(`${what}: the get ended before holder ${kill.holder.number} was to be killed (${kill.atS.toFixed(1)} s)`);
      await this.restart(kill.holder);
    }
    if (r.code !== 0) throw new Error(`${what}: p2pfx ${args.join(' ')} failed (${r.code ?? r.signal}):\n${r.stderr.trim() || r.stdout.trim()}`);
    const got = JSON.parse(r.stdout) as GetOutput;
    if (got.size !== this.opts.sizeBytes) throw new Error(`${what}: got ${got.size} bytes, the file has ${this.opts.sizeBytes}`);
    if (got.localChunks !== 0) throw new Error(`${what}: ${got.localChunks} chunks were found on the getter: this run did not fetch the whole file`);
    const sha = await sha256Of(got.path);
    if (sha !== this.sha256) throw new Error(`${what}: the file got has SHA-256 ${sha}, the source ${this.sha256}`);
    await rm(out, { recursive: true, force: true });
    const shapedBytes = sentAfter.reduce((sum, after, i) => sum + after - sentBefore[i]!, 0);
    // Past the holders' shapers, or the links were not what limited this run.
    if (shapedBytes < this.opts.sizeBytes && sentBefore.some((b, i) => b > 0 || sentAfter[i]! > 0)) {
      throw new Error(`${what}: only ${shapedBytes} bytes left through the holders' shapers for a ${this.opts.sizeBytes}-byte file: the data did not take the shaped links`);
    }
    const chunksOf = new Map(got.peers.map((p) => [p.peer, p.chunks]));
    const live = holderFigures.filter((f) => f !== null);
    const result: GetRun = {
      holders: from.map((h) => h.number),
      seconds: got.seconds,
      wallS: r.wallS,
      mbps: mbps(got.size, got.seconds),
      cpuS: got.process.cpuS,
      peakRssMiB: got.process.peakRssMiB,
      holdersCpuS: live.reduce((sum, f) => sum + f.cpuS, 0),
      holdersPeakRssMiB: Math.max(0, ...live.map((f) => f.peakRssMiB)),
      chunks: from.map((h) => chunksOf.get(h.peer) ?? 0),
      peerProblems: got.peerProblems,
      shapedBytes,
      ...(kill ? { killed: { holder: kill.holder.number, atS: kill.atS } } : {}),
    };
    log(`${what}: ${result.mbps.toFixed(1)} MB/s (${result.seconds.toFixed(2)} s), getter ${result.cpuS.toFixed(2)} CPU s / ${result.peakRssMiB.toFixed(0)} MiB, holders ${result.holdersCpuS.toFixed(2)} CPU s; chunks ${result.chunks.join('/')}${got.peerProblems.length ? `; ${got.peerProblems.length} peer problem(s): ${got.peerProblems[0]!.code}` : ''}`);
    return result;
  }

  /** A killed holder serves again: same home, same namespace, same port. */
  async restart(holder: Holder): Promise<void> {
    const fresh = await startHolder(this.lan, holder.number, holder.host, holder.home);
    this.holders[holder.number - 1] = fresh;
  }
}

async function runSwarmBench(opts: SwarmOptions, teardown: Teardown): Promise<SwarmResult> {
  const root = await mkdtemp(join(tmpdir(), 'p2pfx-swarm-'));
  teardown.add(() => rm(root, { recursive: true, force: true }));
  const holderCount = holderHosts(opts);
  log(`a LAN of ${holderCount + 1} network namespaces (getter 198.18.0.1, holders .2–.${holderCount + 1}) in ${root}`);
  // Torn down before the folder above (Teardown runs last-in first): servers stopped, namespaces deleted.
  const lan = await makeLan({ after: (fn) => teardown.add(fn) }, holderCount + 1);
  const [getter, ...holderHostsList] = lan.hosts as [LanHost, ...LanHost[]];

  // Certificates: the getter holds the CA and issues every holder's (and the seeder's, with a password).
  const getterHome = join(root, 'getter');
  await p2pfxJson(['certs', '--home', getterHome, '--name', 'getter', '--ip', getter.address], teardown);
  const homes: string[] = [];
  for (const [i, host] of holderHostsList.entries()) {
    const home = join(root, `holder-${i + 1}`);
    await p2pfxJson(['certs', 'issue', `holder-${i + 1}`, '--home', getterHome, '--ip', host.address, '--out', home], teardown);
    homes.push(home);
  }
  const seederHome = join(root, 'seeder');
  if (opts.password) await p2pfxJson(['certs', 'issue', 'seeder', '--home', getterHome, '--ip', getter.address, '--out', seederHome], teardown);

  const holders: Holder[] = [];
  for (const [i, host] of holderHostsList.entries()) holders.push(await startHolder(lan, i + 1, host, homes[i]!));
  log(`${holders.length} holders serving on ${holders.map((h) => h.peer).join(', ')}`);
  // A throwaway password, given to the children through the environment (not their command line).
  const env = childEnv(opts.password ? { P2PFX_PASSWORD: 'swarm-bench-password' } : {});
  const swarm = new Swarm(opts, lan, root, getter, getterHome, holders, env);

  log(`writing ${opts.sizeBytes} random bytes to ${swarm.source}`);
  swarm.sha256 = await writeRandomFile(swarm.source, opts.sizeBytes);
  // Links not limited yet: setting up is quick. Storage-only: the holders keep the chunks and no
  // key (no copy reassembled in the background). The sender keeps its own envelope, so the getter
  // can open what it sent; with --password a third node sends, and only the password opens it.
  const seedArgs = ['send', swarm.source, '--home', opts.password ? seederHome : getterHome, ...holders.flatMap((h) => ['--peer', h.peer]), '--storage-only'];
  log(`sending the file to the ${holders.length} holders (storage-only${opts.password ? ', password envelope, from a third node' : ', from the getter'})`);
  const seeded = await cliJsonIn<SendOutput>(lan, getter, seedArgs, { env, timeoutMs: swarm.timeoutMs(160e6, holders.length) });
  checkSent('seeding', seeded.out, holders.length);
  swarm.fileId = seeded.out.fileId;

  // What the getter takes with no link limited, from the largest swarm: the better of two gets
  // (the first after seeding pays for cold caches).
  const largest = holders.slice(0, opts.holders.at(-1)!);
  const ceilingRuns: GetRun[] = [];
  for (let run = 1; run <= 2; run++) ceilingRuns.push(await swarm.get(largest, `ceiling: get from ${largest.length} holder(s), no link limited, run ${run}/2`));
  const ceiling = { holders: largest.length, mbps: Math.max(...ceilingRuns.map((g) => g.mbps)) };

  await swarm.shapeUplinks(opts.rate);
  log(`every holder's upload limited to ${opts.rate} bit/s (${swarm.linkMBps.toFixed(2)} MB/s)`);
  // Runs interleaved (1, 2, 4, 8, then again): the machine's drift spreads over every k alike.
  const byK = new Map<number, GetRun[]>(opts.holders.map((k) => [k, []]));
  const gets: GetRun[] = [...ceilingRuns];
  for (let run = 1; run <= opts.runs; run++) {
    for (const k of opts.holders) {
      const g = await swarm.get(holders.slice(0, k), `get from ${k} holder${k === 1 ? '' : 's'}, run ${run}/${opts.runs}`);
      byK.get(k)!.push(g);
      gets.push(g);
    }
  }
  const one = byK.get(1);
  const oneMedian = one ? median(one.map((g) => g.mbps)) : null;
  const rows = opts.holders.map((k) => summarizeRow(k, byK.get(k)!, swarm.linkMBps, oneMedian, ceiling.mbps));

  const slow = opts.slow > 0 ? await slowScenario(swarm) : null;
  const kill = opts.kill ? await killScenario(swarm) : null;
  // Last: it empties the recipients' stores (the file the gets used goes with them).
  const sendMany = opts.sendMany ? await sendManyScenario(swarm) : null;
  return {
    mode: 'swarm', sizeBytes: opts.sizeBytes, runs: opts.runs, rateBits: opts.rate, linkMBps: swarm.linkMBps, password: opts.password,
    ceiling, rows, slow, kill, sendMany, gets: [...gets, ...(slow?.runs ?? []), ...(kill?.runs ?? [])],
    machine: await describeMachine(), elapsedS: secondsSince(started),
  };
}

/**
 * The last `--slow` of the scenario's holders at rate / factor: gets from the fast ones alone,
 * then from the same plus the slow ones, in pairs. A scheduler that lets a slow holder cost at
 * most its share is never slower with it than without.
 */
async function slowScenario(swarm: Swarm): Promise<SlowResult> {
  const { opts } = swarm;
  const all = swarm.holders.slice(0, opts.scenarioHolders);
  const fast = all.slice(0, all.length - opts.slow);
  const slowOnes = all.slice(fast.length);
  const slowRate = Math.round(opts.rate / opts.slowFactor);
  await swarm.shapeUplinks(slowRate, slowOnes);
  log(`slow holder(s) ${slowOnes.map((h) => h.number).join(', ')}: upload limited to ${slowRate} bit/s`);
  const runs: GetRun[] = [];
  const alone: GetRun[] = [];
  const withSlow: GetRun[] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      alone.push(await swarm.get(fast, `slow scenario: ${fast.length} fast holder(s) alone, run ${run}/${opts.runs}`));
      withSlow.push(await swarm.get(all, `slow scenario: ${fast.length} fast + ${slowOnes.length} slow, run ${run}/${opts.runs}`, undefined, swarm.timeoutMs(slowRate)));
    }
  } finally {
    await swarm.shapeUplinks(opts.rate, slowOnes);
  }
  runs.push(...alone, ...withSlow);
  const fastSpread = spread(alone.map((g) => g.mbps));
  const slowSpread = spread(withSlow.map((g) => g.mbps));
  const slowShare = median(withSlow.map((g) => g.chunks.slice(fast.length).reduce((a, b) => a + b, 0) / g.chunks.reduce((a, b) => a + b, 0)));
  return {
    holders: all.length, slowHolders: slowOnes.map((h) => h.number), slowRate,
    fast: fastSpread, withSlow: slowSpread, ratio: slowSpread.median / fastSpread.median,
    ideal: (fast.length + slowOnes.length / opts.slowFactor) / fast.length, slowShare, runs,
  };
}

/**
 * A get from the scenario's holders untouched, then the same with holder 1 SIGKILLed at half the
 * untouched run's wall time (so about halfway through), in pairs; the holder serves again after.
 */
async function killScenario(swarm: Swarm): Promise<KillResult> {
  const { opts } = swarm;
  const k = opts.scenarioHolders;
  const untouched: GetRun[] = [];
  const killed: GetRun[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const base = await swarm.get(swarm.holders.slice(0, k), `kill scenario: ${k} holders untouched, run ${run}/${opts.runs}`);
    untouched.push(base);
    const victim = swarm.holders[0]!;
    killed.push(await swarm.get(swarm.holders.slice(0, k), `kill scenario: ${k} holders, holder ${victim.number} killed at ${(base.wallS / 2).toFixed(1)} s, run ${run}/${opts.runs}`, { holder: victim, atS: base.wallS / 2 }));
  }
  const u = spread(untouched.map((g) => g.seconds));
  const x = spread(killed.map((g) => g.seconds));
  return { holders: k, victim: 1, untouched: u, killed: x, ratio: x.median / u.median, ideal: 0.5 + 0.5 * (k / (k - 1)), runs: [...untouched, ...killed] };
}

/**
 * `p2pfx send` from the getter to 4 recipients at once against a send to 1. Here what is limited
 * is each RECIPIENT's download: tbf on the bridge port toward it (what leaves the bridge for that
 * host), in the bridge's namespace; the recipients' own uploads are freed (only acknowledgements
 * go up), and the sender's upload was never limited. Storage-only, so that no recipient
 * reassembles a copy in the background on the shared cores. Each run sends the file as new
 * (fresh mtime: new key, new chunks) into emptied stores.
 */
async function sendManyScenario(swarm: Swarm): Promise<SendManyResult> {
  const { opts, lan } = swarm;
  const recipients = swarm.holders.slice(0, SEND_MANY_RECIPIENTS);
  await swarm.clearUplinks(recipients);
  for (const h of recipients) await limitEgress(lan.bridgeNs, h.host.port, opts.rate);
  log(`send-many: recipients ${recipients.map((h) => h.number).join(', ')}, each one's download limited to ${opts.rate} bit/s at its bridge port`);
  const one: number[] = [];
  const many: number[] = [];
  let perRecipientS: number[] = [];
  const send = async (to: Holder[], what: string): Promise<SendOutput & { wallS: number }> => {
    await touchNew(swarm.source);
    for (const h of recipients) await emptyChunkStore(join(h.home, 'chunks'));
    const args = ['send', swarm.source, '--home', swarm.getterHome, ...to.flatMap((h) => ['--peer', h.peer]), '--storage-only'];
    const { out, wallS } = await cliJsonIn<SendOutput>(lan, swarm.getter, args, { env: swarm.env, timeoutMs: swarm.timeoutMs(opts.rate, to.length) });
    checkSent(what, out, to.length);
    log(`${what}: ${wallS.toFixed(2)} s (${mbps(to.length * opts.sizeBytes, wallS).toFixed(1)} MB/s delivered in all)`);
    return { ...out, wallS };
  };
  try {
    for (let run = 1; run <= opts.runs; run++) {
      one.push((await send(recipients.slice(0, 1), `send to 1 recipient, run ${run}/${opts.runs}`)).wallS);
      const out = await send(recipients, `send to ${recipients.length} recipients, run ${run}/${opts.runs}`);
      many.push(out.wallS);
      perRecipientS = out.peers.map((p) => p.seconds ?? NaN);
    }
  } finally {
    for (const h of recipients) await clearEgress(lan.bridgeNs, h.host.port);
    await swarm.shapeUplinks(opts.rate, recipients);
  }
  const o = spread(one);
  const m = spread(many);
  return { recipients: recipients.length, one: o, many: m, ratio: m.median / o.median, perRecipientS };
}

/** Every peer got every chunk of a new file. */
function checkSent(what: string, out: SendOutput, peers: number): void {
  if (out.peers.length !== peers) throw new Error(`${what}: the send reported ${out.peers.length} peers, not ${peers}`);
  for (const p of out.peers) {
    if (p.error) throw new Error(`${what}: not sent to ${p.peer}: ${p.error.code}: ${p.error.message}`);
    if (p.sentChunks !== out.chunks) throw new Error(`${what}: ${p.peer} was sent ${p.sentChunks} of ${out.chunks} chunks: it held some already`);
  }
}

async function main(): Promise<void> {
  let opts: SwarmOptions;
  try {
    opts = parseSwarmArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:swarm: ${err instanceof Error ? err.message : String(err)}\n${SWARM_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const unavailable = (await netnsAvailable()) ?? (await tcUnavailable());
  if (unavailable !== null) {
    process.stderr.write(`bench:swarm: cannot build the LAN: ${unavailable}\n`);
    process.exitCode = 2;
    return;
  }
  const teardown = new Teardown();
  teardown.exitOnSignals();
  try {
    const result = await runSwarmBench(opts, teardown);
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatSwarmReport(result));
  } catch (err) {
    if (!teardown.interrupted) {
      process.stderr.write(`\nbench:swarm FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  } finally {
    log('cleaning up');
    await teardown.run();
  }
  if (process.exitCode) process.exit();
}

void main();
