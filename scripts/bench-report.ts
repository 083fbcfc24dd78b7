// The benchmark's result: the JSON shape (tracked from one run to the next) and the table; the
// folder benchmark's (bench-folder.ts) below the big file's.
import type { Machine } from './bench-machine.js';
import type { TransferRun } from './bench-p2pfx.js';
import type { ProcessFigures } from './bench-proc.js';
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
  /** Gets of a file sent to beta itself: each chunk sealed again from beta's received file. */
  getFromFile: TransferSummary;
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
    getFromFileVsMtls: number;
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
    ...processFigures(runs),
  };
}

/** Both processes' figures over runs: median CPU seconds, the largest peak RSS. */
function processFigures(runs: ReadonlyArray<Pick<TransferRun, 'cpuS' | 'peakRssMiB' | 'server'>>): Pick<TransferSummary, 'cpuS' | 'peakRssMiB' | 'server'> {
  return {
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
      transferRow('get, from a received file', r.getFromFile, r.ratios.getFromFileVsMtls),
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

// =============================== folders ===============================

/** One p2pfx folder command: its wall time, its own figures (from its JSON), the server's over the same time. */
export interface FolderRun {
  seconds: number;
  filesPerS: number;
  /** Of a send: the send command's own wall time (`seconds` runs on to beta's event). */
  commandSeconds?: number;
  cpuS: number;
  peakRssMiB: number;
  server: ProcessFigures;
}

export interface FolderTransferSummary {
  filesPerS: Spread;
  seconds: Spread;
  /** Sends: the send command alone, until it exited (beta may still be rebuilding the folder); null for gets. */
  commandSeconds: Spread | null;
  /** Of the send/get process: CPU seconds (median of runs), peak RSS (max of runs). */
  cpuS: number;
  peakRssMiB: number;
  server: { cpuS: number; peakRssMiB: number; peakIsLifetime: boolean };
}

/** scp -r or rsync -a: wall time of the command, its SSH handshake included. */
export interface FolderReference { filesPerS: Spread; seconds: Spread }

export interface FolderSetResult {
  label: string;
  files: number;
  fileBytes: number;
  dirs: number;
  /** Timed from the start of `p2pfx send` to beta's `received` event for the folder. */
  send: FolderTransferSummary;
  /** The wall time of `p2pfx get` into an empty folder. */
  get: FolderTransferSummary;
  /** With --password, first set only: the same send with a password envelope. */
  sendPassword: FolderTransferSummary | null;
  /** The get by a third node (gamma) that holds no key envelope: the folder opened with the password. */
  getPassword: FolderTransferSummary | null;
  scp: FolderReference | null;
  rsync: FolderReference | null;
  /** Medians over medians. */
  ratios: {
    sendVsScp: number | null;
    getVsScp: number | null;
    sendPasswordVsScp: number | null;
    getPasswordVsScp: number | null;
    rsyncVsScp: number | null;
    sendPasswordVsSend: number | null;
    getPasswordVsGet: number | null;
  };
  /** The unchanged folder sent once more (wall time of the command). */
  resend: { seconds: number; sentChunks: number; chunks: number };
  /**
   * Beta's SQLite index over the set's first send: the files (p2pfx.db and its -wal, which keeps
   * its largest size once grown) and the pages in use (page_count − freelist_count, WAL included).
   */
  index: { fileBytesBefore: number; fileBytesAfter: number; fileBytesPerMember: number; usedBytesBefore: number; usedBytesAfter: number; usedBytesPerMember: number };
}

export interface FolderBenchResult {
  mode: 'folder';
  runs: number;
  chunkSize: string | null;
  password: boolean;
  sets: FolderSetResult[];
  scpNote: string | null;
  rsyncNote: string | null;
  machine: Machine;
  elapsedS: number;
}

export function summarizeFolderRuns(runs: FolderRun[]): FolderTransferSummary {
  return {
    filesPerS: spread(runs.map((r) => r.filesPerS)),
    seconds: spread(runs.map((r) => r.seconds)),
    commandSeconds: runs.every((r) => r.commandSeconds !== undefined) ? spread(runs.map((r) => r.commandSeconds!)) : null,
    ...processFigures(runs),
  };
}

export function formatFolderReport(r: FolderBenchResult): string {
  const m = r.machine;
  const lines = [
    `p2pfx folder benchmark: ${r.runs} run${r.runs === 1 ? '' : 's'} each, two processes on 127.0.0.1 (alpha sends and gets, beta serves)${r.chunkSize ? `, --chunk-size ${r.chunkSize}` : ''}`,
    `machine: ${m.nproc} × ${m.cpuModel}, ${(m.memTotalMiB / 1024).toFixed(1)} GiB RAM, ${m.kernel}, Node ${m.node}`,
  ];
  for (const set of r.sets) {
    lines.push('', `${set.files} files of ${binary(set.fileBytes)} in ${set.dirs} subfolders (${binary(set.files * set.fileBytes)}):`, table([
      ['', 'files/s median', 'min–max', '× scp -r', 'cli CPU s', 'server CPU s', 'cli peak MiB', 'server peak MiB'],
      folderRow('p2pfx send', set.send, set.ratios.sendVsScp),
      folderRow('p2pfx get', set.get, set.ratios.getVsScp),
      ...(set.sendPassword ? [folderRow('p2pfx send (password)', set.sendPassword, set.ratios.sendPasswordVsScp)] : []),
      ...(set.getPassword ? [folderRow('p2pfx get (password)', set.getPassword, set.ratios.getPasswordVsScp)] : []),
      set.scp ? referenceRow('scp -r', set.scp, 1) : ['scp -r', '—'],
      set.rsync ? referenceRow('rsync -a', set.rsync, set.ratios.rsyncVsScp) : ['rsync -a', '—'],
    ]));
    if (set.send.commandSeconds) {
      lines.push(`send: ${set.send.seconds.median.toFixed(2)} s to beta's event, of which the send command ${set.send.commandSeconds.median.toFixed(2)} s (medians)`);
    }
    lines.push(`resend of the unchanged folder: ${set.resend.sentChunks} of ${set.resend.chunks} chunks moved, ${set.resend.seconds.toFixed(2)} s`);
    const ix = set.index;
    lines.push(`beta's index (SQLite) over the first send: ${ix.fileBytesPerMember.toFixed(0)} bytes per member on disk (p2pfx.db + -wal: ${ix.fileBytesBefore} → ${ix.fileBytesAfter}), ${ix.usedBytesPerMember.toFixed(0)} in pages in use (${ix.usedBytesBefore} → ${ix.usedBytesAfter})`);
    if (set.ratios.sendPasswordVsSend !== null || set.ratios.getPasswordVsGet !== null) {
      lines.push(`with --password: send ${ratio(set.ratios.sendPasswordVsSend)} ×, get ${ratio(set.ratios.getPasswordVsGet)} × the files/s without (medians)`);
    }
  }
  lines.push('');
  if (r.scpNote && r.scpNote === r.rsyncNote) lines.push(`scp -r and rsync -a: ${r.scpNote}`);
  else {
    if (r.scpNote) lines.push(`scp -r: ${r.scpNote}`);
    if (r.rsyncNote) lines.push(`rsync -a: ${r.rsyncNote}`);
  }
  lines.push(
    'files/s = files / wall seconds. p2pfx send: from the start of the command to beta\'s "received" event for the folder (rebuilt in its received/);',
    'p2pfx get, scp -r, rsync -a: the whole command (process start and handshake included). Every tree is compared with the source, untimed.',
    'CPU s = median of runs; peak RSS = max of runs; the server\'s over the same time (send: until its "received" event).',
  );
  if (r.password) lines.push('get (password): by a third node, gamma, which holds no key envelope of its own: it opens the folder with the password.');
  if (r.sets.some((s) => s.send.server.peakIsLifetime || s.get.server.peakIsLifetime)) lines.push('The server peak RSS is its lifetime peak: /proc/PID/clear_refs could not be written.');
  lines.push(`Took ${r.elapsedS.toFixed(0)} s.`);
  return `${lines.join('\n')}\n`;
}

function folderRow(name: string, t: FolderTransferSummary, vsScp: number | null): string[] {
  return [name, ...filesPerSCells(t.filesPerS), ratio(vsScp), t.cpuS.toFixed(2), t.server.cpuS.toFixed(2), t.peakRssMiB.toFixed(0), t.server.peakRssMiB.toFixed(0)];
}

function referenceRow(name: string, ref: FolderReference, vsScp: number | null): string[] {
  return [name, ...filesPerSCells(ref.filesPerS), ratio(vsScp)];
}

function filesPerSCells(s: Spread): string[] {
  return [rate(s.median), `${rate(s.min)}–${rate(s.max)}`];
}

/** Three significant digits or more: 12345, 123, 12.3, 1.23, 0.123. */
export function rate(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** 8 KiB, 15.6 MiB, 1 GiB: the largest binary unit that leaves at least 1. */
function binary(bytes: number): string {
  const [unit, size] = bytes >= 2 ** 30 ? ['GiB', 2 ** 30] : bytes >= 2 ** 20 ? ['MiB', 2 ** 20] : bytes >= 1024 ? ['KiB', 1024] : ['bytes', 1];
  const value = bytes / (size as number);
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}
