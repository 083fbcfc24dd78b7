// npm run bench -- --folder: folders of many small files, p2pfx next to scp -r and rsync -a.
// For each set NxSIZE a source folder of N random files in N/100 subfolders is written to the
// benchmark's temp dir. The references first, through the throwaway sshd of bench-scp.ts (with
// --scp): scp -r and rsync -a into a folder that is removed after each run. Then p2pfx between
// alpha (the CLI) and beta (`p2pfx serve`): each send moves every chunk of the folder (every file
// given a fresh mtime → a new version of the folder, all its chunks laid out anew under new
// indexes; beta's received/ and chunk store emptied) and
// is timed until beta prints its `received` event for the folder; each get fetches it into an
// empty folder. With --password, the first set once more with a password envelope, fetched by a
// third node (gamma) that only the password lets in. Every tree is compared with the source,
// untimed. Progress goes to the `log` given; the result is bench-report.ts's FolderBenchResult.
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MiB } from '../src/core/limits.js';
import type { BenchOptions, FolderSet } from './bench-args.js';
import { p2pfxJson, runChild } from './bench-child.js';
import { emptyChunkStore, sha256Of, writeRandomFile } from './bench-files.js';
import { describeMachine } from './bench-machine.js';
import { ProcessMeter } from './bench-proc.js';
import { rate, summarizeFolderRuns, type FolderBenchResult, type FolderReference, type FolderRun, type FolderSetResult } from './bench-report.js';
import { SCP, scpSkipReason, sshClientOptions, sshTarget, startSshd, type Sshd } from './bench-scp.js';
import { secondsSince, spread } from './bench-stats.js';
import type { Teardown } from './bench-teardown.js';
import { serve, type ServingNode } from './cli-process.js';

const RSYNC = '/usr/bin/rsync';
const PASSWORD = 'benchpass';
/** Files per subfolder of a source folder: 2000 files → 20 subfolders. */
const FILES_PER_DIR = 100;
/** Files written, touched or hashed at once. */
const IO_CONCURRENCY = 32;
/** Files up to this size are written and hashed whole, in memory; larger ones as streams. */
const IN_MEMORY_BYTES = 1 * MiB;
/** How long beta may take to rebuild a folder once the send has exited (the send itself has no limit). */
const RECEIVE_TIMEOUT_MS = 30 * 60_000;

type Log = (text: string) => void;

/** A source folder and what any copy of it must hold. */
interface SourceFolder {
  set: FolderSet;
  /** The folder sent; its name is what beta's received/ and each get's --out get. */
  dir: string;
  name: string;
  /** Relative paths ('/'-separated) of its subfolders. */
  dirs: string[];
  /** Relative path ('/'-separated) → SHA-256 (hex) of the file's bytes. */
  files: Map<string, string>;
}

interface CliProcess { process?: { cpuS: number; peakRssMiB: number } }
interface FolderSendOutput extends CliProcess { fileId?: string; folderFileId?: string; name: string; files: number; chunks?: number; chunkCount?: number; sentChunks: number }
interface FolderGetOutput extends CliProcess { path: string; files: number; localChunks?: number }
/** A JSON line of `p2pfx serve --json` about a file reassembled, or not, by beta's inbox. */
interface InboxLine { event: string; kind?: string; fileId: string; name?: string; path?: string; code?: string; message?: string }

export async function runFolderBench(opts: BenchOptions, teardown: Teardown, log: Log): Promise<FolderBenchResult> {
  const started = process.hrtime.bigint();
  const root = await mkdtemp(join(tmpdir(), 'p2pfx-bench-folder-'));
  teardown.add(() => rm(root, { recursive: true, force: true }));
  const alpha = join(root, 'alpha');
  const beta = join(root, 'beta');
  const gamma = opts.password ? join(root, 'gamma') : null;
  log(`certificates for alpha, beta${gamma ? ' and gamma' : ''} in ${root}`);
  await p2pfxJson(['certs', '--home', alpha, '--name', 'alpha', '--ip', '127.0.0.1'], teardown);
  await p2pfxJson(['certs', 'issue', 'beta', '--home', alpha, '--ip', '127.0.0.1', '--out', beta], teardown);
  if (gamma) await p2pfxJson(['certs', 'issue', 'gamma', '--home', alpha, '--ip', '127.0.0.1', '--out', gamma], teardown);

  const scpNote = scpSkipReason(opts.scp);
  const rsyncNote = scpNote ?? (existsSync(RSYNC) ? null : `${RSYNC} is missing; apt-get install rsync to time it too`);
  const sshd = scpNote === null ? await startSshd(join(root, 'ssh'), teardown) : null;
  if (scpNote) log(`scp -r and rsync -a skipped: ${scpNote}`);
  else if (rsyncNote) log(`rsync -a skipped: ${rsyncNote}`);

  const node = await serve(beta);
  // Not node.stop(): it waits for an exit that a server killed by a signal has already made.
  teardown.track(node.child);
  const p2pfx = new FolderP2pfx({ alpha, beta, gamma, node, meter: new ProcessMeter(node.child.pid!), chunkSize: opts.chunkSize, scratch: join(root, 'gets'), teardown });
  const sets: FolderSetResult[] = [];
  for (const [i, set] of opts.folderSets.entries()) {
    const src = await buildSource(join(root, 'sources'), set, log);
    const refs = { sshd, dest: join(root, 'ssh-dest', set.label), runs: opts.runs, teardown, log };
    const scp = sshd ? await referenceRuns('scp -r', src, refs) : null;
    const rsync = sshd && rsyncNote === null ? await referenceRuns('rsync -a', src, refs) : null;
    sets.push(await p2pfxRuns(p2pfx, src, { runs: opts.runs, password: opts.password && i === 0, scp, rsync, log }));
    await rm(src.dir, { recursive: true, force: true });
  }
  return {
    mode: 'folder', runs: opts.runs, chunkSize: opts.chunkSize ?? null, password: opts.password,
    sets, scpNote, rsyncNote, machine: await describeMachine(), elapsedS: secondsSince(started),
  };
}

// =============================== p2pfx ===============================

interface SetRunOptions { runs: number; password: boolean; scp: FolderReference | null; rsync: FolderReference | null; log: Log }

/** Sends (the first one measuring beta's index), a resend, gets; with `password`, sends and gets with it too. */
async function p2pfxRuns(p2pfx: FolderP2pfx, src: SourceFolder, o: SetRunOptions): Promise<FolderSetResult> {
  const label = (what: string, run: number) => `${src.set.label}: ${what} ${run}/${o.runs}`;
  const indexBefore = await indexBytes(p2pfx.betaHome);
  let indexAfter = indexBefore;
  const sends: SendRun[] = [];
  for (let run = 1; run <= o.runs; run++) {
    sends.push(logged(o.log, label('p2pfx send', run), await p2pfx.send(src, false)));
    if (run === 1) indexAfter = await indexBytes(p2pfx.betaHome);
  }
  const resend = await p2pfx.resend(src);
  o.log(`${src.set.label}: resend of the unchanged folder: ${resend.sentChunks} of ${resend.chunks} chunks moved in ${resend.seconds.toFixed(2)} s`);
  const gets: FolderRun[] = [];
  for (let run = 1; run <= o.runs; run++) gets.push(logged(o.log, label('p2pfx get', run), await p2pfx.get(src, sends.at(-1)!.folderFileId, false)));
  let sendsPassword: SendRun[] | null = null;
  let getsPassword: FolderRun[] | null = null;
  if (o.password) {
    sendsPassword = [];
    for (let run = 1; run <= o.runs; run++) sendsPassword.push(logged(o.log, label('p2pfx send --password', run), await p2pfx.send(src, true)));
    getsPassword = [];
    for (let run = 1; run <= o.runs; run++) getsPassword.push(logged(o.log, label('p2pfx get --password (gamma)', run), await p2pfx.get(src, sendsPassword.at(-1)!.folderFileId, true)));
  }
  await p2pfx.clearReceived();

  const send = summarizeFolderRuns(sends);
  const get = summarizeFolderRuns(gets);
  const sendPassword = sendsPassword ? summarizeFolderRuns(sendsPassword) : null;
  const getPassword = getsPassword ? summarizeFolderRuns(getsPassword) : null;
  const scpMedian = o.scp?.filesPerS.median ?? null;
  const over = (value: number | undefined, base: number | null | undefined) => (value === undefined || base === null || base === undefined ? null : value / base);
  const members = src.set.files;
  return {
    label: src.set.label, files: members, fileBytes: src.set.fileBytes, dirs: src.dirs.length,
    send, get, sendPassword, getPassword, scp: o.scp, rsync: o.rsync,
    ratios: {
      sendVsScp: over(send.filesPerS.median, scpMedian),
      getVsScp: over(get.filesPerS.median, scpMedian),
      sendPasswordVsScp: over(sendPassword?.filesPerS.median, scpMedian),
      getPasswordVsScp: over(getPassword?.filesPerS.median, scpMedian),
      rsyncVsScp: over(o.rsync?.filesPerS.median, scpMedian),
      sendPasswordVsSend: over(sendPassword?.filesPerS.median, send.filesPerS.median),
      getPasswordVsGet: over(getPassword?.filesPerS.median, get.filesPerS.median),
    },
    resend,
    index: {
      fileBytesBefore: indexBefore.file, fileBytesAfter: indexAfter.file, fileBytesPerMember: (indexAfter.file - indexBefore.file) / members,
      usedBytesBefore: indexBefore.used, usedBytesAfter: indexAfter.used, usedBytesPerMember: (indexAfter.used - indexBefore.used) / members,
    },
  };
}

/** A send; `seconds` runs to beta's event, `commandSeconds` to the send command's exit. */
type SendRun = FolderRun & { folderFileId: string; commandSeconds: number };

interface FolderP2pfxOptions {
  alpha: string;
  beta: string;
  /** The node that gets with the password (no envelope of its own), or null without --password. */
  gamma: string | null;
  node: ServingNode;
  meter: ProcessMeter;
  chunkSize: string | undefined;
  /** Where each get's fresh --out folder is made (and removed). */
  scratch: string;
  teardown: Teardown;
}

/** alpha's `p2pfx send` and `p2pfx get` of a folder against beta's `p2pfx serve`, with the figures of both. */
class FolderP2pfx {
  #gets = 0;
  #stamp = Math.floor(Date.now() / 1000);

  constructor(private readonly o: FolderP2pfxOptions) {}

  get betaHome(): string {
    return this.o.beta;
  }

  /**
   * Sends the folder as new to beta (fresh mtimes: new keys and file ids; beta's chunks and
   * received/ emptied), timed from the command's start to beta's `received` event for it or the
   * command's exit, whichever comes later; then compares beta's copy with the source.
   */
  async send(src: SourceFolder, password: boolean): Promise<SendRun> {
    await this.#touchAll(src);
    await this.clearReceived();
    await emptyChunkStore(join(this.o.beta, 'chunks'));
    await this.o.meter.begin();
    const started = process.hrtime.bigint();
    const out = await p2pfxJson<FolderSendOutput>(['send', src.dir, ...this.#alpha(), ...this.#chunkSize(), ...(password ? ['--password', PASSWORD] : [])], this.o.teardown);
    const exitedS = secondsSince(started);
    const folderFileId = folderIdOf(out);
    if (out.sentChunks !== chunksOf(out)) throw new Error(`send moved ${out.sentChunks} of ${chunksOf(out)} chunks: beta already held some, so this run did not move the whole folder`);
    const { event, seconds } = await this.#received(src, folderFileId, started, exitedS);
    const server = await this.o.meter.end();
    await verifyTree(event.path!, src, 'send (beta\'s received copy)');
    return { ...figures(src, seconds, out, 'send'), server, folderFileId, commandSeconds: exitedS };
  }

  /** The unchanged folder once more, beta's store untouched: what moves is what p2pfx does not skip. */
  async resend(src: SourceFolder): Promise<{ seconds: number; sentChunks: number; chunks: number }> {
    const started = process.hrtime.bigint();
    const out = await p2pfxJson<FolderSendOutput>(['send', src.dir, ...this.#alpha(), ...this.#chunkSize()], this.o.teardown);
    return { seconds: secondsSince(started), sentChunks: out.sentChunks, chunks: chunksOf(out) };
  }

  /**
   * Fetches the folder into a new, empty folder, nothing of it held locally: by alpha (its own
   * envelopes), or with `password` by gamma (none: the folder opened with the password). Timed as
   * the whole command; the tree is compared with the source afterwards.
   */
  async get(src: SourceFolder, folderFileId: string, password: boolean): Promise<FolderRun> {
    const home = password ? this.o.gamma : this.o.alpha;
    if (home === null) throw new Error('a get with the password needs gamma\'s home (--password)');
    await emptyChunkStore(join(home, 'chunks'));
    const outDir = join(this.o.scratch, `get-${++this.#gets}`);
    await mkdir(this.o.scratch, { recursive: true });
    await this.o.meter.begin();
    const started = process.hrtime.bigint();
    const out = await p2pfxJson<FolderGetOutput>(['get', folderFileId, ...this.#peer(home), '--out', outDir, ...(password ? ['--password', PASSWORD] : [])], this.o.teardown);
    const seconds = secondsSince(started);
    const server = await this.o.meter.end();
    if ((out.localChunks ?? 0) !== 0) throw new Error(`get found ${out.localChunks} chunks locally: this run did not fetch the whole folder`);
    await verifyTree(out.path, src, password ? 'get --password (gamma)' : 'get');
    await rm(outDir, { recursive: true, force: true });
    return { ...figures(src, seconds, out, 'get'), server };
  }

  /** Inbox lines already taken, by folder id. */
  readonly #taken = new Map<string, number>();

  async clearReceived(): Promise<void> {
    await rm(join(this.o.beta, 'received'), { recursive: true, force: true });
  }

  /** Waits for beta's inbox line about the folder; a line that came before the wait began counts as at `exitedS`. */
  async #received(src: SourceFolder, folderFileId: string, started: bigint, exitedS: number): Promise<{ event: InboxLine; seconds: number }> {
    let waiting = false;
    let arrivedS = exitedS;
    // A folder keeps its id from one send to the next (a new version): the lines about it that
    // earlier runs already took are passed over.
    const before = this.#taken.get(folderFileId) ?? 0;
    let nth = 0;
    const line = this.o.node.event<InboxLine>((e) => {
      if (e.fileId !== folderFileId || (e.event !== 'received' && e.event !== 'failed')) return false;
      if (++nth <= before) return false;
      if (waiting) arrivedS = secondsSince(started);
      return true;
    }, RECEIVE_TIMEOUT_MS);
    this.#taken.set(folderFileId, before + 1);
    waiting = true;
    // The server's exit ends the wait at once; the listener goes when the wait does.
    const done = new AbortController();
    const died = once(this.o.node.child, 'exit', { signal: done.signal }).then(([code, signal]) => {
      throw new Error(`beta's p2pfx serve exited (${signal ?? `exit ${code}`}) before it rebuilt the folder`);
    });
    died.catch(() => undefined);
    let event: InboxLine;
    try {
      event = await Promise.race([line, died]);
    } catch (err) {
      throw new Error(`beta did not report the folder ${src.name} (${folderFileId}) as received: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      done.abort();
    }
    if (event.event === 'failed') throw new Error(`beta could not rebuild the folder ${src.name}: ${event.code}: ${event.message}`);
    if (event.kind !== 'folder' || event.name !== src.name || typeof event.path !== 'string') {
      throw new Error(`beta's event for ${folderFileId} is not the folder ${src.name}: ${JSON.stringify(event)}`);
    }
    return { event, seconds: Math.max(exitedS, arrivedS) };
  }

  /** Every file gets the same mtime, one it never had: p2pfx's send journal sees new files. */
  async #touchAll(src: SourceFolder): Promise<void> {
    const stamp = ++this.#stamp;
    await eachLimited([...src.files.keys()], IO_CONCURRENCY, (rel) => utimes(join(src.dir, rel), stamp, stamp));
  }

  #alpha(): string[] {
    return this.#peer(this.o.alpha);
  }

  #peer(home: string): string[] {
    return ['--home', home, '--peer', `127.0.0.1:${this.o.node.port}`];
  }

  #chunkSize(): string[] {
    return this.o.chunkSize === undefined ? [] : ['--chunk-size', this.o.chunkSize];
  }
}

function folderIdOf(out: FolderSendOutput): string {
  const id = out.folderFileId ?? out.fileId;
  if (typeof id !== 'string') throw new Error(`p2pfx send --json printed no folder file id: ${JSON.stringify(out).slice(0, 300)}`);
  return id;
}

function chunksOf(out: FolderSendOutput): number {
  const chunks = out.chunks ?? out.chunkCount;
  if (typeof chunks !== 'number') throw new Error(`p2pfx send --json printed no chunk count: ${JSON.stringify(out).slice(0, 300)}`);
  return chunks;
}

function figures(src: SourceFolder, seconds: number, out: CliProcess, what: string): Omit<FolderRun, 'server'> {
  if (!out.process) throw new Error(`p2pfx ${what} --json printed no process figures (process.cpuS, process.peakRssMiB)`);
  return { seconds, filesPerS: src.set.files / seconds, cpuS: out.process.cpuS, peakRssMiB: out.process.peakRssMiB };
}

function logged<T extends FolderRun & { commandSeconds?: number }>(log: Log, what: string, run: T): T {
  const command = run.commandSeconds === undefined ? '' : `, the command ${run.commandSeconds.toFixed(2)} s`;
  log(`${what}: ${rate(run.filesPerS)} files/s (${run.seconds.toFixed(2)} s${command}), cli ${run.cpuS.toFixed(2)} CPU s / ${run.peakRssMiB.toFixed(0)} MiB, server ${run.server.cpuS.toFixed(2)} CPU s / ${run.server.peakRssMiB.toFixed(0)} MiB`);
  return run;
}

/**
 * Beta's SQLite index: the bytes of its files (*.db and *.db-wal) and of the pages in use
 * ((page_count − freelist_count) × page_size, read through SQLite, so the WAL's pages count).
 */
async function indexBytes(home: string): Promise<{ file: number; used: number }> {
  const names = await readdir(home);
  let file = 0;
  let used = 0;
  for (const name of names.filter((n) => /\.db(-wal)?$/.test(n))) file += (await stat(join(home, name))).size;
  for (const name of names.filter((n) => n.endsWith('.db'))) {
    const db = new DatabaseSync(join(home, name), { readOnly: true });
    try {
      const pragma = (p: string) => Number(Object.values(db.prepare(`PRAGMA ${p}`).get() ?? {})[0]);
      used += (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
    } finally {
      db.close();
    }
  }
  return { file, used };
}

// =============================== scp -r, rsync -a ===============================

interface ReferenceOptions { sshd: Sshd | null; dest: string; runs: number; teardown: Teardown; log: Log }

/** Copies of the source folder to `dest` over SSH to 127.0.0.1, each timed as the command, checked, removed. */
async function referenceRuns(tool: 'scp -r' | 'rsync -a', src: SourceFolder, o: ReferenceOptions): Promise<FolderReference> {
  const sshd = o.sshd!;
  const ssh = sshClientOptions(sshd);
  const [command, args] = tool === 'scp -r'
    ? [SCP, ['-r', '-q', '-B', ...ssh, '-P', String(sshd.port), src.dir, sshTarget(o.dest)]]
    // rsync splits -e on spaces and honours quotes: each argument quoted.
    : [RSYNC, ['-a', '-e', ['ssh', '-p', String(sshd.port), ...ssh].map(shellQuote).join(' '), `${src.dir}/`, `${sshTarget(o.dest)}/`]];
  const seconds: number[] = [];
  await mkdir(join(o.dest, '..'), { recursive: true });
  for (let run = 1; run <= o.runs; run++) {
    await rm(o.dest, { recursive: true, force: true });
    const started = process.hrtime.bigint();
    await runChild(command, args, o.teardown);
    seconds.push(secondsSince(started));
    await verifyTree(o.dest, src, tool);
    await rm(o.dest, { recursive: true, force: true });
    o.log(`${src.set.label}: ${tool} ${run}/${o.runs}: ${rate(src.set.files / seconds.at(-1)!)} files/s (${seconds.at(-1)!.toFixed(2)} s)`);
  }
  return { filesPerS: spread(seconds.map((s) => src.set.files / s)), seconds: spread(seconds) };
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

// =============================== the source folder ===============================

/** Writes N files of random bytes, spread round-robin over ceil(N/100) subfolders, hashing each. */
async function buildSource(parent: string, set: FolderSet, log: Log): Promise<SourceFolder> {
  const name = `folder-${set.label}`;
  const dir = join(parent, name);
  const dirs = Array.from({ length: Math.ceil(set.files / FILES_PER_DIR) }, (_, i) => `d${String(i).padStart(4, '0')}`);
  log(`${set.label}: writing ${set.files} files of ${set.fileBytes} random bytes in ${dirs.length} subfolders of ${dir}`);
  await Promise.all(dirs.map((d) => mkdir(join(dir, d), { recursive: true })));
  const paths = Array.from({ length: set.files }, (_, i) => `${dirs[i % dirs.length]}/f${String(i).padStart(6, '0')}.bin`);
  const files = new Map<string, string>();
  const inMemory = set.fileBytes <= IN_MEMORY_BYTES;
  await eachLimited(paths, inMemory ? IO_CONCURRENCY : 2, async (rel) => {
    if (!inMemory) {
      files.set(rel, await writeRandomFile(join(dir, rel), set.fileBytes));
      return;
    }
    const bytes = randomFillSync(Buffer.allocUnsafe(set.fileBytes));
    await writeFile(join(dir, rel), bytes);
    files.set(rel, createHash('sha256').update(bytes).digest('hex'));
  });
  return { set, dir, name, dirs, files };
}

/** Throws unless `root` holds exactly the source's subfolders and files, byte for byte. */
async function verifyTree(root: string, src: SourceFolder, what: string): Promise<void> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch((err: unknown) => {
    throw new Error(`${what}: cannot read the copy ${root}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const e of entries) {
    const rel = relative(root, join(e.parentPath, e.name)).split(sep).join('/');
    if (e.isDirectory()) dirs.add(rel);
    else if (e.isFile()) files.add(rel);
    else throw new Error(`${what}: ${rel} in ${root} is neither a file nor a folder`);
  }
  const problems = [
    differences('missing file', [...src.files.keys()].filter((f) => !files.has(f))),
    differences('unexpected file', [...files].filter((f) => !src.files.has(f))),
    differences('missing folder', src.dirs.filter((d) => !dirs.has(d))),
    differences('unexpected folder', [...dirs].filter((d) => !src.dirs.includes(d))),
  ].filter((p) => p !== null);
  if (problems.length > 0) throw new Error(`${what}: the copy ${root} differs from the source ${src.dir}: ${problems.join('; ')}`);
  const inMemory = src.set.fileBytes <= IN_MEMORY_BYTES;
  await eachLimited([...files], IO_CONCURRENCY, async (rel) => {
    const path = join(root, rel);
    const got = inMemory ? createHash('sha256').update(await readFile(path)).digest('hex') : await sha256Of(path);
    if (got !== src.files.get(rel)) throw new Error(`${what}: ${path} differs from the source's ${rel} (SHA-256 ${got}, expected ${src.files.get(rel)})`);
  });
}

function differences(what: string, paths: string[]): string | null {
  if (paths.length === 0) return null;
  return `${paths.length} ${what}${paths.length === 1 ? '' : 's'} (${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', …' : ''})`;
}

/** fn over items, at most `limit` at once; stops taking new items after the first failure, which it rethrows. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }));
}
