// The swarm benchmark's result: the JSON shape and the tables. Units as in bench-report.ts: MB/s
// is 1e6 bytes per second (so a 100 Mbit/s link is 12.5 MB/s), memory in MiB.
import type { Machine } from './bench-machine.js';
import { median, spread, type Spread } from './bench-stats.js';
import { formatRate } from './netns-shape.js';

/** One timed `p2pfx get` on the getter. */
export interface GetRun {
  /** The holders it got from (their numbers: holder 1 is 198.18.0.2). */
  holders: number[];
  /** Measured inside the get process, as in npm run bench. */
  seconds: number;
  /** From spawn to exit, process start included. */
  wallS: number;
  mbps: number;
  /** The get process's own getrusage (all its threads): user+sys seconds, peak RSS. */
  cpuS: number;
  peakRssMiB: number;
  /** The serving processes over the same time (a killed one left out): CPU seconds summed, the largest peak RSS. */
  holdersCpuS: number;
  holdersPeakRssMiB: number;
  /** Chunks each holder served (in the order of `holders`). */
  chunks: number[];
  /** Peer problems the get reported (a killed holder's, a slow one cut…). */
  peerProblems: Array<{ peer: string; code: string; message: string }>;
  /** Bytes that left through the holders' shapers during the run (headers included). */
  shapedBytes: number;
  /** The holder SIGKILLed during the run, and when (seconds after the get started). */
  killed?: { holder: number; atS: number };
}

/** The gets from k holders, summed up. */
export interface SwarmRow {
  k: number;
  mbps: Spread;
  /** Median over the median with one holder; null when k = 1 was not measured. */
  speedup: number | null;
  /** Median MB/s ÷ (k × the link's MB/s). */
  efficiency: number;
  /** Medians of runs, and the largest peak RSS. */
  cpuS: number;
  peakRssMiB: number;
  holdersCpuS: number;
  holdersPeakRssMiB: number;
  /** k × the link's rate is at least 80 % of what the getter took unshaped: the row measures the CPU. */
  getterBound: boolean;
}

export interface SlowResult {
  holders: number;
  /** The slowed holders' numbers, and their upload. */
  slowHolders: number[];
  slowRate: number;
  /** Gets from the fast holders alone, and from the same plus the slow ones. */
  fast: Spread;
  withSlow: Spread;
  /** withSlow ÷ fast (medians): ≥ 1 means the slow holders cost nothing; the issue's target. */
  ratio: number;
  /** What the ratio would be if each holder gave all it can: (fast links + slow links) ÷ fast links. */
  ideal: number;
  /** The share of chunks the slow holders served (median of runs). */
  slowShare: number;
  runs: GetRun[];
}

export interface KillResult {
  holders: number;
  victim: number;
  /** Seconds of the get, untouched and with the victim killed halfway (at half the untouched run's wall time). */
  untouched: Spread;
  killed: Spread;
  /** killed ÷ untouched (medians). */
  ratio: number;
  /** If the others simply took over the rest: ½ + ½ × k/(k−1). */
  ideal: number;
  runs: GetRun[];
}

export interface SendManyResult {
  recipients: number;
  /** Wall seconds of `p2pfx send` (storage-only) to 1 recipient and to all of them. */
  one: Spread;
  many: Spread;
  /** many ÷ one (medians); the issue's target is ≤ 1.3. */
  ratio: number;
  /** The seconds each recipient's send took inside the command, of the last run to all. */
  perRecipientS: number[];
}

export interface SwarmResult {
  mode: 'swarm';
  sizeBytes: number;
  runs: number;
  /** Each holder's upload (bit/s), and what it carries in MB/s. */
  rateBits: number;
  linkMBps: number;
  password: boolean;
  /** The better of two gets from the largest swarm before any link was shaped: what this getter can take. */
  ceiling: { holders: number; mbps: number };
  rows: SwarmRow[];
  slow: SlowResult | null;
  kill: KillResult | null;
  sendMany: SendManyResult | null;
  gets: GetRun[];
  machine: Machine;
  elapsedS: number;
}

/** The share of k × rate at which a row is said to measure the getter's CPU rather than the scheduler. */
export const GETTER_BOUND_SHARE = 0.8;

export function summarizeRow(k: number, runs: GetRun[], linkMBps: number, oneHolderMedian: number | null, ceilingMBps: number): SwarmRow {
  const mbps = spread(runs.map((r) => r.mbps));
  return {
    k,
    mbps,
    speedup: oneHolderMedian === null ? null : mbps.median / oneHolderMedian,
    efficiency: mbps.median / (k * linkMBps),
    cpuS: median(runs.map((r) => r.cpuS)),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    holdersCpuS: median(runs.map((r) => r.holdersCpuS)),
    holdersPeakRssMiB: Math.max(...runs.map((r) => r.holdersPeakRssMiB)),
    getterBound: k * linkMBps >= GETTER_BOUND_SHARE * ceilingMBps,
  };
}

export function formatSwarmReport(r: SwarmResult): string {
  const m = r.machine;
  const link = `${formatRate(r.rateBits)} (${r.linkMBps.toFixed(2)} MB/s)`;
  const lines = [
    `p2pfx swarm benchmark: ${mib(r.sizeBytes)} of random data, ${r.runs} run${r.runs === 1 ? '' : 's'} each; one getter and its holders, each a network namespace on one bridge;`,
    `each holder's upload limited to ${link} by tc tbf; ${r.password ? 'password envelope (sent by a third node, opened by the getter with the password)' : 'key envelope (the getter sent the file storage-only to the holders)'}`,
    `machine: ${m.nproc} × ${m.cpuModel}, ${(m.memTotalMiB / 1024).toFixed(1)} GiB RAM, ${m.kernel}, Node ${m.node}`,
    `getter ceiling: a get from ${r.ceiling.holders} holder${r.ceiling.holders === 1 ? '' : 's'} with no link limited ran at ${r.ceiling.mbps.toFixed(1)} MB/s (the better of two)`,
    '',
    table([
      ['holders', 'MB/s median', 'min–max', '× 1 holder', 'efficiency', 'getter CPU s', 'getter peak MiB', 'holders CPU s', 'holder peak MiB', ''],
      ...r.rows.map((row) => [
        String(row.k), row.mbps.median.toFixed(1), `${row.mbps.min.toFixed(1)}–${row.mbps.max.toFixed(1)}`, row.speedup === null ? '' : row.speedup.toFixed(2),
        row.efficiency.toFixed(2), row.cpuS.toFixed(2), row.peakRssMiB.toFixed(0), row.holdersCpuS.toFixed(2), row.holdersPeakRssMiB.toFixed(0),
        row.getterBound ? `* ${row.k} × ${r.linkMBps.toFixed(1)} ≥ ${(GETTER_BOUND_SHARE * 100).toFixed(0)} % of the getter's ceiling` : '',
      ]),
    ]),
  ];
  if (r.rows.some((row) => row.getterBound)) {
    lines.push(`* k × the link rate is at least ${(GETTER_BOUND_SHARE * 100).toFixed(0)} % of what this getter took with no link limited (${r.ceiling.mbps.toFixed(1)} MB/s, every process sharing ${m.nproc} cores):`,
      '  that row measures this machine\'s CPU more than the scheduler; a lower --rate shows the scheduler.');
  }
  if (r.slow) {
    const s = r.slow;
    const fastN = s.holders - s.slowHolders.length;
    lines.push('', `slow holder${s.slowHolders.length === 1 ? '' : 's'}: ${s.slowHolders.map((h) => `holder ${h}`).join(', ')} at ${formatRate(s.slowRate)}, the others at ${formatRate(r.rateBits)}:`, table([
      ['', 'MB/s median', 'min–max'],
      [`${fastN} fast holder${fastN === 1 ? '' : 's'} alone`, s.fast.median.toFixed(1), `${s.fast.min.toFixed(1)}–${s.fast.max.toFixed(1)}`],
      [`the same + ${s.slowHolders.length} slow`, s.withSlow.median.toFixed(1), `${s.withSlow.min.toFixed(1)}–${s.withSlow.max.toFixed(1)}`],
    ]), `with the slow one${s.slowHolders.length === 1 ? '' : 's'}: ${s.ratio.toFixed(2)} × without (target ≥ 1.00: a slow holder costs at most its share; ideal ${s.ideal.toFixed(2)}); the slow served ${(s.slowShare * 100).toFixed(1)} % of the chunks (its link's share: ${(100 * (s.ideal - 1) / s.ideal).toFixed(1)} %).`);
  }
  if (r.kill) {
    const k = r.kill;
    lines.push('', `a holder killed: get from ${k.holders} holders, holder ${k.victim} SIGKILLed at half the untouched run's time:`, table([
      ['', 'seconds median', 'min–max'],
      ['untouched', k.untouched.median.toFixed(2), `${k.untouched.min.toFixed(2)}–${k.untouched.max.toFixed(2)}`],
      ['holder killed', k.killed.median.toFixed(2), `${k.killed.min.toFixed(2)}–${k.killed.max.toFixed(2)}`],
    ]), `killed ÷ untouched: ${k.ratio.toFixed(2)} (if the others simply took over its share: ${k.ideal.toFixed(2)}).`);
  }
  if (r.sendMany) {
    const s = r.sendMany;
    lines.push('', `send to ${s.recipients} recipients, each one's download limited to ${link} (tbf on its bridge port), the sender's upload not limited:`, table([
      ['', 'seconds median', 'min–max'],
      ['send to 1', s.one.median.toFixed(2), `${s.one.min.toFixed(2)}–${s.one.max.toFixed(2)}`],
      [`send to ${s.recipients}`, s.many.median.toFixed(2), `${s.many.min.toFixed(2)}–${s.many.max.toFixed(2)}`],
    ]), `to ${s.recipients} ÷ to 1: ${s.ratio.toFixed(2)} (target ≤ 1.30); each recipient's send inside the command (last run): ${s.perRecipientS.map((x) => x.toFixed(1)).join(', ')} s.`);
  }
  lines.push(
    '',
    `MB/s = plaintext bytes / seconds (measured inside the get process) / 1e6; efficiency = MB/s ÷ (k × ${r.linkMBps.toFixed(2)} MB/s); a link carries TCP/IP and Ethernet`,
    'headers too, so about 0.95 is the most a transfer can reach. CPU s = median of runs (the get\'s own user+sys, every thread); peak RSS = max of runs.',
    'Every file got was checked against the source\'s SHA-256, untimed.',
    `Took ${r.elapsedS.toFixed(0)} s.`,
  );
  return `${lines.join('\n')}\n`;
}

function mib(bytes: number): string {
  return bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 === 0 ? 0 : 1)} MiB`;
}

/** First column left-aligned, the others right-aligned, two spaces apart; a last column of notes left-aligned. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  const last = Math.max(...rows.map((row) => row.length)) - 1;
  return rows.map((row) => row.map((cell, i) => (i === 0 || (i === last && last > 2) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}
