// npm run bench: p2pfx send and get between two processes on 127.0.0.1, next to the figures
// that give them meaning on this machine — the raw mTLS stream (the transport ceiling), the
// seal+hash speed of one core, scp where an OpenSSH server is at hand, and Syncthing where it is
// installed (those two when asked) — plus the same send and get with a larger file, to show that
// peak memory does not grow with size. With --folder, folders of many small files instead, next
// to scp -r and rsync -a (bench-folder.ts). Prints a table, or with --json one JSON object;
// progress goes to stderr. Times nothing it asserts on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs, USAGE, type BenchOptions } from './bench-args.js';
import { p2pfxJson } from './bench-child.js';
import { writeRandomFile } from './bench-files.js';
import { runFolderBench } from './bench-folder.js';
import { describeMachine } from './bench-machine.js';
import { mtlsStreamRuns } from './bench-mtls.js';
import { P2pfxBench, type SourceFile, type TransferRun } from './bench-p2pfx.js';
import { ProcessMeter } from './bench-proc.js';
import { formatFolderReport, formatReport, largeTransfer, summarizeTransfers, type BenchResult } from './bench-report.js';
import { scpRuns, scpSkipReason } from './bench-scp.js';
import { sealHashMbps } from './bench-seal.js';
import { syncthingRuns, syncthingSkipReason } from './bench-syncthing.js';
import { secondsSince, spread } from './bench-stats.js';
import { Teardown } from './bench-teardown.js';
import { serve } from './cli-process.js';

const started = process.hrtime.bigint();

function log(text: string): void {
  process.stderr.write(`[${secondsSince(started).toFixed(1).padStart(6)} s] ${text}\n`);
}

async function runBench(opts: BenchOptions, teardown: Teardown): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'p2pfx-bench-'));
  teardown.add(() => rm(root, { recursive: true, force: true }));
  const alpha = join(root, 'alpha');
  const beta = join(root, 'beta');
  log(`certificates for alpha and beta in ${root}`);
  await p2pfxJson(['certs', '--home', alpha, '--name', 'alpha', '--ip', '127.0.0.1'], teardown);
  await p2pfxJson(['certs', 'issue', 'beta', '--home', alpha, '--ip', '127.0.0.1', '--out', beta], teardown);
  const file = await makeSource(join(root, 'source.bin'), opts.sizeBytes);

  const sealHash = repeat(opts.runs, 'seal+hash', () => sealHashMbps());
  const mtls = await mtlsStreamRuns({ serverHome: beta, clientHome: alpha, file: file.path, runs: opts.runs, teardown });
  log(`mTLS stream: ${mtls.map((v) => v.toFixed(0)).join(', ')} MB/s`);
  const scpNote = scpSkipReason(opts.scp);
  const scp = scpNote === null ? await scpRuns({ dir: join(root, 'ssh'), file: file.path, sizeBytes: file.sizeBytes, runs: opts.runs, teardown }) : null;
  log(scp ? `scp: ${scp.map((v) => v.toFixed(0)).join(', ')} MB/s` : `scp skipped: ${scpNote}`);
  const syncthingNote = syncthingSkipReason(opts.syncthing);
  const syncthing = syncthingNote === null ? await syncthingRuns({ dir: join(root, 'syncthing'), file: file.path, sizeBytes: file.sizeBytes, sha256: file.sha256, runs: opts.runs, teardown }) : null;
  log(syncthing ? `Syncthing (end to end): ${syncthing.map((v) => v.toFixed(0)).join(', ')} MB/s` : `Syncthing skipped: ${syncthingNote}`);

  const node = await serve(beta);
  // Not node.stop(): it waits for an exit that a server killed by a signal has already made.
  teardown.track(node.child);
  const bench = new P2pfxBench({ alphaHome: alpha, betaHome: beta, betaPort: node.port, betaMeter: new ProcessMeter(node.child.pid!), betaEvent: node.event, chunkSize: opts.chunkSize, teardown });
  const sends: Array<TransferRun & { fileId: string }> = [];
  for (let run = 1; run <= opts.runs; run++) sends.push(logged(`send ${run}/${opts.runs}`, await bench.send(file)));
  const resend = await bench.resend(file);
  log(`resend of the unchanged file: ${resend.sentChunks} of ${resend.chunks} chunks moved in ${resend.seconds.toFixed(3)} s`);
  const gets: TransferRun[] = [];
  for (let run = 1; run <= opts.runs; run++) gets.push(logged(`get ${run}/${opts.runs}`, await bench.get(file, sends.at(-1)!.fileId)));
  // The file sent to beta itself: beta keeps it once, as the file, and serves each chunk sealed again from it.
  const fromFileId = await bench.sendToBeta(file);
  const getsFromFile: TransferRun[] = [];
  for (let run = 1; run <= opts.runs; run++) getsFromFile.push(logged(`get from beta's received file ${run}/${opts.runs}`, await bench.get(file, fromFileId)));
  await rm(join(beta, 'received'), { recursive: true, force: true });

  const send = summarizeTransfers(sends);
  const get = summarizeTransfers(gets);
  const getFromFile = summarizeTransfers(getsFromFile);
  const mtlsStream = { mbps: spread(mtls) };
  const syncthingMedian = syncthing ? spread(syncthing).median : null;
  return {
    sizeBytes: opts.sizeBytes, runs: opts.runs, chunkSize: opts.chunkSize ?? null,
    send, get, getFromFile, resend, mtlsStream, sealHash: { mbps: spread(sealHash) },
    scp: scp ? { mbps: spread(scp) } : null, scpNote,
    syncthing: syncthing ? { mbps: spread(syncthing) } : null, syncthingNote,
    ratios: {
      sendVsMtls: send.mbps.median / mtlsStream.mbps.median,
      getVsMtls: get.mbps.median / mtlsStream.mbps.median,
      getFromFileVsMtls: getFromFile.mbps.median / mtlsStream.mbps.median,
      scpVsMtls: scp ? spread(scp).median / mtlsStream.mbps.median : null,
      syncthingVsMtls: syncthingMedian === null ? null : syncthingMedian / mtlsStream.mbps.median,
      sendVsSyncthing: syncthingMedian === null ? null : send.mbps.median / syncthingMedian,
      getVsSyncthing: syncthingMedian === null ? null : get.mbps.median / syncthingMedian,
    },
    large: opts.largeFactor === 0 ? null : await largeRun(bench, file, opts.sizeBytes * opts.largeFactor),
    machine: await describeMachine(),
    elapsedS: secondsSince(started),
  };
}

/** One send and one get of a bigger file; the regular file is deleted first to bound disk use. */
async function largeRun(bench: P2pfxBench, regular: SourceFile, sizeBytes: number): Promise<BenchResult['large']> {
  await rm(regular.path);
  await bench.clearReceived();
  const file = await makeSource(regular.path.replace(/source\.bin$/, 'large.bin'), sizeBytes);
  const send = logged('large send', await bench.send(file));
  const get = logged('large get', await bench.get(file, send.fileId));
  await bench.clearReceived();
  await rm(file.path);
  return { sizeBytes, send: largeTransfer(send), get: largeTransfer(get) };
}

async function makeSource(path: string, sizeBytes: number): Promise<SourceFile> {
  log(`writing ${sizeBytes} random bytes to ${path}`);
  return { path, sizeBytes, sha256: await writeRandomFile(path, sizeBytes) };
}

function repeat(runs: number, what: string, fn: () => number): number[] {
  const values = Array.from({ length: runs }, fn);
  log(`${what}: ${values.map((v) => v.toFixed(0)).join(', ')} MB/s`);
  return values;
}

function logged<T extends TransferRun>(what: string, run: T): T {
  log(`${what}: ${run.mbps.toFixed(1)} MB/s, cli ${run.cpuS.toFixed(2)} CPU s / ${run.peakRssMiB.toFixed(0)} MiB, server ${run.server.cpuS.toFixed(2)} CPU s / ${run.server.peakRssMiB.toFixed(0)} MiB`);
  return run;
}

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const teardown = new Teardown();
  teardown.exitOnSignals();
  try {
    if (opts.folder) {
      const result = await runFolderBench(opts, teardown, log);
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatFolderReport(result));
    } else {
      const result = await runBench(opts, teardown);
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatReport(result));
    }
  } catch (err) {
    if (!teardown.interrupted) {
      process.stderr.write(`\nbench FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  } finally {
    await teardown.run();
  }
  // A failed run may leave a wait behind (the folder bench waits up to 30 min for a serve event).
  if (process.exitCode) process.exit();
}

void main();
