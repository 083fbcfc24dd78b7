// npm run load: one `p2pfx serve` on 127.0.0.1 under many concurrent chunk requests from several
// client processes (scripts/load-worker.ts), each with its own certificate and a keep-alive pool
// of mutual-TLS connections: PUTs of fresh random blobs and of held ones, GETs of held blobs
// (every byte checked against the id) and of ids never sent. Prints requests per second, p50/p99
// latency, errors by status, wrong answers, 5xx and the server's peak RSS (VmHWM), or with --json
// one JSON object; progress goes to stderr. Times nothing it asserts on, but exits 1 if the
// server gave a single wrong answer or 5xx (or died), 2 on a usage error.
//
//   npm run load -- [--seconds 10] [--clients 4] [--concurrency 64] [--size 64K] [--json]
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MAX_BLOB_BYTES } from '../src/core/limits.js';
import { parseBytes } from './bench-args.js';
import { p2pfxJson } from './bench-child.js';
import { describeMachine, type Machine } from './bench-machine.js';
import { ProcessMeter } from './bench-proc.js';
import { secondsSince } from './bench-stats.js';
import { stopChild, Teardown } from './bench-teardown.js';
import { serve } from './cli-process.js';
import { OP_KINDS, type LoadWorkerConfig, type OpKind, type WorkerResult } from './load-worker.js';

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
/** Past the run's end, how long workers may take to finish the requests in flight and report. */
const RESULT_GRACE_MS = 60_000;

export const USAGE = 'usage: npm run load -- [--seconds 10] [--clients 4] [--concurrency 64] [--size 64K] [--json]';

export interface LoadOptions {
  seconds: number;
  /** Client processes. */
  clients: number;
  /** Requests in flight per client process (and its keep-alive connections). */
  concurrency: number;
  sizeBytes: number;
  json: boolean;
}

export interface OpSummary { requests: number; ok: number; perS: number; p50Ms: number; p99Ms: number; maxMs: number }

export interface LoadResult {
  seconds: number;
  clients: number;
  concurrency: number;
  inFlight: number;
  sizeBytes: number;
  /** The longest client's measured time. */
  elapsedS: number;
  requests: number;
  requestsPerS: number;
  latencyMs: { p50: number; p99: number; max: number };
  ops: Record<OpKind, OpSummary>;
  /** Unexpected statuses and transport failures, e.g. {"PUT 503": 2, "GET ECONNRESET": 1}. */
  errorsByStatus: Record<string, number>;
  transportErrors: number;
  wrongAnswers: number;
  wrongExamples: string[];
  fiveXX: number;
  mbps: { sent: number; received: number };
  server: { peakRssMiB: number; peakIsLifetime: boolean; cpuS: number; diedDuringRun: string | null };
  machine: Machine;
  /** Whether the run passes: no wrong answer, no 5xx, the server alive, some answers. */
  pass: boolean;
  failures: string[];
}

const started = process.hrtime.bigint();

function log(text: string): void {
  process.stderr.write(`[${secondsSince(started).toFixed(1).padStart(6)} s] ${text}\n`);
}

/** Throws a usage message naming the bad option. */
export function parseLoadArgs(argv: string[]): LoadOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      seconds: { type: 'string', default: '10' },
      clients: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '64' },
      size: { type: 'string', default: '64K' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizeBytes = parseBytes(values.size);
  if (sizeBytes > MAX_BLOB_BYTES) throw new Error(`--size: at most ${MAX_BLOB_BYTES} bytes (a node refuses larger chunks)`);
  return {
    seconds: whole(values.seconds, '--seconds', 1, 3600),
    clients: whole(values.clients, '--clients', 1, 64),
    concurrency: whole(values.concurrency, '--concurrency', 1, 1024),
    sizeBytes,
    json: values.json,
  };
}

function whole(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

async function runLoad(opts: LoadOptions, teardown: Teardown): Promise<LoadResult> {
  const root = await mkdtemp(join(tmpdir(), 'p2pfx-load-'));
  teardown.add(() => rm(root, { recursive: true, force: true }));
  const serverHome = join(root, 'server');
  log(`certificates for the server and ${opts.clients} clients in ${root}`);
  await p2pfxJson(['certs', '--home', serverHome, '--name', 'load-server', '--ip', '127.0.0.1'], teardown);
  const clientHomes: string[] = [];
  for (let i = 1; i <= opts.clients; i++) {
    const home = join(root, `client-${i}`);
    await p2pfxJson(['certs', 'issue', `load-client-${i}`, '--home', serverHome, '--ip', '127.0.0.1', '--out', home], teardown);
    clientHomes.push(home);
  }

  const node = await serve(serverHome);
  teardown.track(node.child);
  const died = { how: null as string | null };
  node.child.once('exit', (code, signal) => { died.how = `exited (${signal ?? `code ${code}`})`; });
  log(`p2pfx serve on 127.0.0.1:${node.port} (pid ${node.child.pid})`);
  const meter = new ProcessMeter(node.child.pid!);

  const workers = clientHomes.map((home) => startWorker(teardown, {
    type: 'config', origin: `https://127.0.0.1:${node.port}`, home, seconds: opts.seconds, concurrency: opts.concurrency, sizeBytes: opts.sizeBytes,
  }));
  await withTimeout(Promise.all(workers.map((w) => w.ready)), READY_TIMEOUT_MS, 'clients opening their connections');
  log(`${opts.clients} clients × ${opts.concurrency} connections open; running ${opts.seconds} s`);
  await meter.begin();
  for (const w of workers) w.child.send({ type: 'go' });
  const results = await withTimeout(Promise.all(workers.map((w) => w.result)), opts.seconds * 1000 + RESULT_GRACE_MS, 'clients finishing');
  const server = await meter.end();
  const diedDuringRun = died.how;
  await stopChild(node.child);
  const summary = summarize(opts, results);
  const failures: string[] = [];
  if (summary.wrongAnswers > 0) failures.push(`${summary.wrongAnswers} wrong answers`);
  if (summary.fiveXX > 0) failures.push(`${summary.fiveXX} answers with a 5xx status`);
  if (diedDuringRun !== null) failures.push(`the server ${diedDuringRun} during the run`);
  if (summary.requests === 0) failures.push('no request got an answer');
  return {
    ...summary,
    server: { ...server, diedDuringRun },
    machine: await describeMachine(),
    pass: failures.length === 0,
    failures,
  };
}

interface Worker { child: ChildProcess; ready: Promise<void>; result: Promise<WorkerResult> }

function startWorker(teardown: Teardown, config: LoadWorkerConfig): Worker {
  const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  teardown.track(child);
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`a load client exited early (${signal ?? `code ${code}`})`);
  });
  const message = (type: string): Promise<Record<string, unknown>> => Promise.race([
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>): void => {
        if (m?.type !== type) return;
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
    }),
    exited,
  ]);
  const ready = message('ready').then(() => undefined);
  const result = message('result').then((m) => m.result as WorkerResult);
  // Neither rejection may go unhandled while the other is awaited.
  ready.catch(() => undefined);
  result.catch(() => undefined);
  child.send(config);
  return { child, ready, result };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Summary = Omit<LoadResult, 'server' | 'machine' | 'pass' | 'failures'>;

export function summarize(opts: LoadOptions, results: WorkerResult[]): Summary {
  const elapsedS = Math.max(...results.map((r) => r.elapsedS));
  const all: number[] = [];
  const ops = {} as Record<OpKind, OpSummary>;
  for (const kind of OP_KINDS) {
    const latencies = results.flatMap((r) => r.ops[kind].latenciesMs).sort((a, b) => a - b);
    all.push(...latencies);
    ops[kind] = {
      requests: latencies.length,
      ok: results.reduce((n, r) => n + r.ops[kind].ok, 0),
      perS: latencies.length / elapsedS,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? 0,
    };
  }
  all.sort((a, b) => a - b);
  const errorsByStatus: Record<string, number> = {};
  for (const r of results) for (const [key, n] of Object.entries(r.errorsByStatus)) errorsByStatus[key] = (errorsByStatus[key] ?? 0) + n;
  const sum = (f: (r: WorkerResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  return {
    seconds: opts.seconds,
    clients: opts.clients,
    concurrency: opts.concurrency,
    inFlight: opts.clients * opts.concurrency,
    sizeBytes: opts.sizeBytes,
    elapsedS,
    requests: all.length,
    requestsPerS: all.length / elapsedS,
    latencyMs: { p50: percentile(all, 50), p99: percentile(all, 99), max: all.at(-1) ?? 0 },
    ops,
    errorsByStatus,
    transportErrors: sum((r) => r.transportErrors),
    wrongAnswers: sum((r) => r.wrongAnswers),
    wrongExamples: results.flatMap((r) => r.wrongExamples).slice(0, 10),
    fiveXX: sum((r) => r.fiveXX),
    mbps: { sent: sum((r) => r.bytesSent) / 1e6 / elapsedS, received: sum((r) => r.bytesReceived) / 1e6 / elapsedS },
  };
}

/** Nearest-rank percentile of sorted values (0 for none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const OP_NAMES: Record<OpKind, string> = {
  putNew: 'PUT new chunk (201)',
  putAgain: 'PUT held chunk (200)',
  getHeld: 'GET held chunk (200, bytes checked)',
  getAbsent: 'GET absent chunk (404)',
};

export function formatLoad(r: LoadResult): string {
  const m = r.machine;
  const row = (name: string, s: { requests: number; ok: number; perS: number; p50Ms: number; p99Ms: number; maxMs: number }): string[] =>
    [name, String(s.requests), String(s.ok), s.perS.toFixed(0), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), s.maxMs.toFixed(1)];
  const errors = Object.entries(r.errorsByStatus).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
  const lines = [
    `p2pfx load: one \`p2pfx serve\` on 127.0.0.1, ${r.clients} client processes × ${r.concurrency} requests in flight (${r.inFlight} at once, one keep-alive mTLS connection each), ${sizeText(r.sizeBytes)} chunks, ${r.seconds} s`,
    `machine: ${m.nproc} × ${m.cpuModel}, ${(m.memTotalMiB / 1024).toFixed(1)} GiB RAM, ${m.kernel}, Node ${m.node} (clients and server share the CPUs)`,
    '',
    table([
      ['', 'answered', 'as expected', 'per s', 'p50 ms', 'p99 ms', 'max ms'],
      ...OP_KINDS.map((k) => row(OP_NAMES[k], r.ops[k])),
      row('all', { requests: r.requests, ok: OP_KINDS.reduce((n, k) => n + r.ops[k].ok, 0), perS: r.requestsPerS, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, maxMs: r.latencyMs.max }),
    ]),
    '',
    `requests per second: ${r.requestsPerS.toFixed(0)} (${r.mbps.sent.toFixed(1)} MB/s up, ${r.mbps.received.toFixed(1)} MB/s down, over ${r.elapsedS.toFixed(2)} s)`,
    `errors by status: ${errors || 'none'}${r.transportErrors > 0 ? ` (${r.transportErrors} without an answer)` : ''}`,
    `wrong answers: ${r.wrongAnswers}${r.wrongExamples.length > 0 ? `\n  ${r.wrongExamples.join('\n  ')}` : ''}`,
    `5xx: ${r.fiveXX}`,
    `server: peak RSS ${r.server.peakRssMiB.toFixed(0)} MiB (VmHWM${r.server.peakIsLifetime ? ', lifetime' : ', during the run'}), ${r.server.cpuS.toFixed(1)} CPU s${r.server.diedDuringRun ? `, ${r.server.diedDuringRun} during the run` : ''}`,
    r.pass ? 'PASS: no wrong answer, no 5xx' : `FAIL: ${r.failures.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

function sizeText(bytes: number): string {
  if (bytes % (1 << 20) === 0) return `${bytes >> 20} MiB`;
  if (bytes % 1024 === 0) return `${bytes >> 10} KiB`;
  return `${bytes}-byte`;
}

/** First column left-aligned, the others right-aligned, two spaces apart. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  let opts: LoadOptions;
  try {
    opts = parseLoadArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const teardown = new Teardown();
  teardown.exitOnSignals();
  try {
    const result = await runLoad(opts, teardown);
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatLoad(result));
    if (!result.pass) {
      process.stderr.write(`load FAILED: ${result.failures.join('; ')}\n`);
      process.exitCode = 1;
    }
  } catch (err) {
    if (!teardown.interrupted) {
      process.stderr.write(`\nload FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  } finally {
    await teardown.run();
  }
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) void main();
