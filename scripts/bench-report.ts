// The benchmark's result: the JSON shape (tracked from one run to the next) and the table.
import type { Machine } from './bench-machine.js';
import type { TransferRun } from './bench-p2pfx.js';
import { median, spread, type Spread } from './bench-stats.js';

export interface TransferSummary {
  mbps: Spread;
  /** Of the send/get process: CPU seconds (median of runs), peak RSS (max of runs). */
  cpuS: number;
  peakRssMiB: number;
  server: { cpuS: number; peakRssMiB: number; peakIsLifetime: boolean };
}

export interface LargeTransfer { mbps: number; peakRssMiB: number; server: { peakRssMiB: number } }

export interface BenchResult {
  sizeBytes: number;
  runs: number;
  chunkSize: string | null;
  send: TransferSummary;
  get: TransferSummary;
  /** The same unchanged file sent again: only `missing` and the manifest travel. */
  resend: { seconds: number; sentChunks: number; chunks: number };
  mtlsStream: { mbps: Spread };
  sealHash: { mbps: Spread };
  scp: { mbps: Spread } | null;
  scpNote: string | null;
  /** From the rescan on A to the whole file in B's folder (bench-syncthing.ts). */
  syncthing: { mbps: Spread } | null;
  syncthingNote: string | null;
  /**
   * Medians over medians: the figures that travel between machines. Over the mTLS stream's, and
   * send's and get's over Syncthing's (null when Syncthing was not measured).
   */
  ratios: {
    sendVsMtls: number;
    getVsMtls: number;
    scpVsMtls: number | null;
    syncthingVsMtls: number | null;
    sendVsSyncthing: number | null;
    getVsSyncthing: number | null;
  };
  large: { sizeBytes: number; send: LargeTransfer; get: LargeTransfer } | null;
  machine: Machine;
  elapsedS: number;
}

const SYNCTHING_ROW = 'Syncthing (end to end)';

export function summarizeTransfers(runs: TransferRun[]): TransferSummary {
  return {
    mbps: spread(runs.map((r) => r.mbps)),
    cpuS: median(runs.map((r) => r.cpuS)),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    server: {
      cpuS: median(runs.map((r) => r.server.cpuS)),
      peakRssMiB: Math.max(...runs.map((r) => r.server.peakRssMiB)),
      peakIsLifetime: runs.some((r) => r.server.peakIsLifetime),
    },
  };
}

export function largeTransfer(run: TransferRun): LargeTransfer {
  return { mbps: run.mbps, peakRssMiB: run.peakRssMiB, server: { peakRssMiB: run.server.peakRssMiB } };
}

export function formatReport(r: BenchResult): string {
  const m = r.machine;
  const lines = [
    `p2pfx benchmark: ${mib(r.sizeBytes)} of random data, ${r.runs} run${r.runs === 1 ? '' : 's'} each, two processes on 127.0.0.1${r.chunkSize ? `, --chunk-size ${r.chunkSize}` : ''}`,
    `machine: ${m.nproc} × ${m.cpuModel}, ${(m.memTotalMiB / 1024).toFixed(1)} GiB RAM, ${m.kernel}, Node ${m.node}`,
    '',
    table([
      ['', 'MB/s median', 'min', 'max', '× mTLS', 'cli CPU s', 'server CPU s', 'cli peak MiB', 'server peak MiB'],
      transferRow('send', r.send, r.ratios.sendVsMtls),
      transferRow('get', r.get, r.ratios.getVsMtls),
      [...spreadCells('mTLS stream (ceiling)', r.mtlsStream.mbps), '1.00'],
      [...spreadCells('seal+hash, one core', r.sealHash.mbps)],
      r.scp ? [...spreadCells('scp', r.scp.mbps), ratio(r.ratios.scpVsMtls)] : ['scp', '—'],
      r.syncthing ? [...spreadCells(SYNCTHING_ROW, r.syncthing.mbps), ratio(r.ratios.syncthingVsMtls)] : [SYNCTHING_ROW, '—'],
    ]),
  ];
  if (r.scpNote) lines.push(`scp: ${r.scpNote}`);
  if (r.syncthingNote) lines.push(`Syncthing: ${r.syncthingNote}`);
  if (r.syncthing) lines.push(`send ${ratio(r.ratios.sendVsSyncthing)} × Syncthing, get ${ratio(r.ratios.getVsSyncthing)} × Syncthing (medians; Syncthing timed from its scan of the new file to the whole file in the other folder).`);
  lines.push(`resend of the unchanged file: ${r.resend.sentChunks} of ${r.resend.chunks} chunks moved, ${r.resend.seconds.toFixed(3)} s`);
  if (r.large) {
    lines.push('', `memory with a ${mib(r.large.sizeBytes)} file (peak RSS must not grow with size):`, table([
      ['', 'MB/s', 'cli peak MiB', 'server peak MiB', `at ${mib(r.sizeBytes)}: cli`, 'server'],
      largeRow('send', r.large.send, r.send),
      largeRow('get', r.large.get, r.get),
    ]));
  }
  lines.push('', 'MB/s = plaintext bytes / seconds / 1e6 (send/get: seconds measured inside the CLI process); CPU s = median of runs; peak RSS = max of runs.');
  if (r.send.server.peakIsLifetime || r.get.server.peakIsLifetime) lines.push('The server peak RSS is its lifetime peak: /proc/PID/clear_refs could not be written.');
  lines.push(`Took ${r.elapsedS.toFixed(0)} s.`);
  return `${lines.join('\n')}\n`;
}

function transferRow(name: string, t: TransferSummary, vsMtls: number): string[] {
  return [...spreadCells(name, t.mbps), ratio(vsMtls), t.cpuS.toFixed(2), t.server.cpuS.toFixed(2), t.peakRssMiB.toFixed(0), t.server.peakRssMiB.toFixed(0)];
}

function largeRow(name: string, l: LargeTransfer, base: TransferSummary): string[] {
  return [name, l.mbps.toFixed(1), l.peakRssMiB.toFixed(0), l.server.peakRssMiB.toFixed(0), base.peakRssMiB.toFixed(0), base.server.peakRssMiB.toFixed(0)];
}

function spreadCells(name: string, s: Spread): string[] {
  return [name, s.median.toFixed(1), s.min.toFixed(1), s.max.toFixed(1)];
}

function ratio(value: number | null): string {
  return value === null ? '' : value.toFixed(2);
}

function mib(bytes: number): string {
  return bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 === 0 ? 0 : 1)} MiB`;
}

/** First column left-aligned, the others right-aligned, two spaces apart. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}
