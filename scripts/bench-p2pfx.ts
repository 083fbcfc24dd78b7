// The p2pfx runs: alpha's `p2pfx send`/`p2pfx get` as child processes against beta's
// `p2pfx serve`, each run moving the whole file, with the figures of both processes.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { p2pfxJson } from './bench-child.js';
import { emptyChunkStore, sha256Of, touchNew } from './bench-files.js';
import type { ProcessFigures, ProcessMeter } from './bench-proc.js';
import { mbps } from './bench-stats.js';
import type { Teardown } from './bench-teardown.js';

interface CliFigures { seconds: number; size: number; sha256: string | null; process: { cpuS: number; peakRssMiB: number } }
interface SendOutput extends CliFigures { fileId: string; chunks: number; sentChunks: number }
interface GetOutput extends CliFigures { fileId: string; path: string; fetchedChunks: number; localChunks: number }

export interface TransferRun {
  mbps: number;
  seconds: number;
  /** The send or get process. */
  cpuS: number;
  peakRssMiB: number;
  /** The serving process (beta). */
  server: ProcessFigures;
}

export interface SourceFile { path: string; sizeBytes: number; sha256: string }

export interface P2pfxBenchOptions {
  alphaHome: string;
  betaHome: string;
  betaPort: number;
  betaMeter: ProcessMeter;
  /** beta's `serve --json` events, seen so far and to come. */
  betaEvent: <E>(match: (e: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<E>;
  chunkSize: string | undefined;
  teardown: Teardown;
}

export class P2pfxBench {
  constructor(private readonly opts: P2pfxBenchOptions) {}

  /**
   * Sends the whole file as new (fresh mtime → new key and file id) into beta's emptied store.
   * `--storage-only`: beta stores the chunks without reassembling a copy of the file in the
   * background, which would overlap the next runs; the bytes moved are the same.
   */
  async send(file: SourceFile): Promise<TransferRun & { fileId: string }> {
    await touchNew(file.path);
    await emptyChunkStore(join(this.opts.betaHome, 'chunks'));
    const chunkSize = this.opts.chunkSize === undefined ? [] : ['--chunk-size', this.opts.chunkSize];
    const { out, server } = await this.#measured(() => p2pfxJson<SendOutput>(['send', file.path, ...this.#alpha(), '--storage-only', ...chunkSize], this.opts.teardown));
    checkFile('send', file, out);
    if (out.sentChunks !== out.chunks) throw new Error(`send moved ${out.sentChunks} of ${out.chunks} chunks: the peer already held some, so this run did not move the whole file`);
    return { ...figures(file, out, server), fileId: out.fileId };
  }

  /** Sends the same, unchanged file again: only `missing` and the manifest should travel. */
  async resend(file: SourceFile): Promise<{ seconds: number; sentChunks: number; chunks: number }> {
    const chunkSize = this.opts.chunkSize === undefined ? [] : ['--chunk-size', this.opts.chunkSize];
    const out = await p2pfxJson<SendOutput>(['send', file.path, ...this.#alpha(), '--storage-only', ...chunkSize], this.opts.teardown);
    checkFile('resend', file, out);
    if (out.sentChunks !== 0) throw new Error(`a resend of an unchanged file moved ${out.sentChunks} chunks`);
    return { seconds: out.seconds, sentChunks: out.sentChunks, chunks: out.chunks };
  }

  /**
   * Sends the file to beta as its recipient and waits until beta has it in place: beta then keeps
   * it once, as the file, and serves its chunks sealed again from it (store/file-chunks.ts).
   */
  async sendToBeta(file: SourceFile): Promise<string> {
    await touchNew(file.path);
    await emptyChunkStore(join(this.opts.betaHome, 'chunks'));
    const chunkSize = this.opts.chunkSize === undefined ? [] : ['--chunk-size', this.opts.chunkSize];
    const out = await p2pfxJson<SendOutput>(['send', file.path, ...this.#alpha(), ...chunkSize], this.opts.teardown);
    checkFile('send to beta', file, out);
    const e = await this.opts.betaEvent<{ event: string; code?: string; message?: string }>((l) => l['fileId'] === out.fileId && (l['event'] === 'received' || l['event'] === 'failed'), 600_000);
    if (e.event !== 'received') throw new Error(`beta could not reassemble the file: ${e.code}: ${e.message}`);
    return out.fileId;
  }

  /** Downloads fileId from beta with nothing of it held locally, and checks its SHA-256. */
  async get(file: SourceFile, fileId: string): Promise<TransferRun> {
    await this.clearReceived();
    await emptyChunkStore(join(this.opts.alphaHome, 'chunks'));
    const { out, server } = await this.#measured(() => p2pfxJson<GetOutput>(['get', fileId, ...this.#alpha(), '--out', join(this.opts.alphaHome, 'received')], this.opts.teardown));
    checkFile('get', file, out);
    // Format v2 reports no whole-file digest: the file on disk is hashed here, after the timing.
    const got = await sha256Of(out.path);
    if (got !== file.sha256) throw new Error(`get: the received file's SHA-256 ${got} differs from the source's ${file.sha256}`);
    if (out.localChunks !== 0) throw new Error(`get found ${out.localChunks} chunks locally: this run did not fetch the whole file`);
    return figures(file, out, server);
  }

  async clearReceived(): Promise<void> {
    await rm(join(this.opts.alphaHome, 'received'), { recursive: true, force: true });
  }

  #alpha(): string[] {
    return ['--home', this.opts.alphaHome, '--peer', `127.0.0.1:${this.opts.betaPort}`];
  }

  async #measured<T>(fn: () => Promise<T>): Promise<{ out: T; server: ProcessFigures }> {
    await this.opts.betaMeter.begin();
    const out = await fn();
    return { out, server: await this.opts.betaMeter.end() };
  }
}

function checkFile(what: string, file: SourceFile, out: CliFigures): void {
  if (out.size !== file.sizeBytes) throw new Error(`${what} reported ${out.size} bytes, the file has ${file.sizeBytes}`);
  if (out.sha256 !== null && out.sha256 !== file.sha256) throw new Error(`${what}: SHA-256 ${out.sha256} differs from the source's ${file.sha256}`);
}

function figures(file: SourceFile, out: CliFigures, server: ProcessFigures): TransferRun {
  return { mbps: mbps(file.sizeBytes, out.seconds), seconds: out.seconds, cpuS: out.process.cpuS, peakRssMiB: out.process.peakRssMiB, server };
}
