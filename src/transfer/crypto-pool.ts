// A small pool of worker threads for the CPU-heavy part of a transfer: reading and sealing the
// chunks of a file being sent, checking, opening and writing those of a file being received,
// and each file's whole SHA-256. The main thread keeps the sockets busy. A file's work goes to
// one worker, in the order asked, so its whole-file hash sees the bytes in order.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import { workerScript } from '../own-files.js';
import type { ReadPart, WorkerDone, WorkerReply, WorkerTask, WritePiece } from './crypto-tasks.js';
import { transferable } from './transferable.js';

type Pending = { resolve: (r: WorkerDone) => void; reject: (e: Error) => void; answered: Promise<WorkerDone> };
type TaskInput = WorkerTask extends infer T ? (T extends WorkerTask ? Omit<T, 'seq'> : never) : never;

/**
 * A worker (started at its first task: a resend that reads nothing starts none) and how many
 * tasks it has to answer: it holds the process open only while that is > 0.
 */
interface Slot { worker: Worker | null; busy: number }

interface Place { key: Uint8Array; fileId: Uint8Array; index: number; last: boolean }

/** Reads chunks of one open file at their offsets and seals them, hashing the plaintext in order. */
export interface FileSealer {
  /** The blob is written into `out` (moved to the worker and back) when it is large enough. */
  readSeal(args: Place & { noncePrefix: Uint8Array; fd: number; position: number; length: number; name: string; parts?: ReadPart[] }, out: Buffer): Promise<{ id: string; blob: Buffer }>;
  /** SHA-256 of every plaintext read, in the order readSeal() was called; null when not asked to hash. */
  digest(): Promise<string | null>;
}

/** Checks, opens and writes chunks of one file at their offsets, hashing the plaintext in order. */
export interface FileWriter {
  /**
   * Reads back plaintext already written at `position` and seals it again, so its id can be
   * compared with the manifest's (a resumed download trusts nothing it wrote before).
   */
  reseal(args: Place & { noncePrefix: Uint8Array; fd: number; position: number; length: number; name: string }, out: Buffer): Promise<{ id: string; blob: Buffer }>;
  /**
   * Checks the first `length` bytes of `blob` against `id` (HASH_MISMATCH), opens them at their
   * place (DECRYPT_FAILED) and writes the plaintext at `position`. `blob` comes back.
   */
  openWrite(args: Place & { id: string; fd: number; position: number }, blob: Buffer, length: number): Promise<{ blob: Buffer; plainLength: number }>;
  /** SHA-256 of the whole plaintext written (and re-read), in order; null when not asked to hash. */
  digest(): Promise<string | null>;
}

/** Whether a file's stream also takes the SHA-256 of its whole plaintext (format v1, folder members). */
export interface StreamOptions { wholeHash: boolean }

/**
 * Workers for this machine: leave a core to the main thread, at most 4. (Two workers for a
 * download on 2 cores gained ~10 % and cost ~20 MiB of resident memory: not kept.)
 */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * A worker's own objects are small (task messages; the chunks are moved ArrayBuffers): a 4 MiB
 * young generation keeps each worker ~5 MiB smaller, at no measured cost (DESIGN "Performance").
 */
const WORKER_OPTIONS = { resourceLimits: { maxYoungGenerationSizeMb: 4 } };

export class CryptoPool {
  private readonly slots: Slot[] = [];
  /** Tasks given and not yet answered, by sequence number. */
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private streams = 0;
  private closed = false;

  constructor(size = defaultPoolSize()) {
    for (let i = 0; i < size; i++) this.slots.push({ worker: null, busy: 0 });
  }

  private workerOf(slot: Slot): Worker {
    if (slot.worker) return slot.worker;
    const script = workerScript('crypto-worker');
    const worker = 'url' in script ? new Worker(script.url, WORKER_OPTIONS) : new Worker(script.code, { ...WORKER_OPTIONS, eval: true });
    // An idle worker must not keep the process alive; a busy one must, or a command whose only
    // pending work is a worker's answer (re-sealing a file while no socket is open) would end
    // with the event loop empty, before its result.
    worker.unref();
    worker.on('message', (reply: WorkerReply) => this.settle(slot, reply));
    worker.on('error', (err) => this.failAll(err));
    // A worker that stops by itself (out of memory) answers nothing more: its tasks fail.
    worker.on('exit', (code) => {
      if (slot.worker === worker) {
        slot.worker = null;
        slot.busy = 0;
      }
      if (!this.closed) this.failAll(new Error(`crypto worker stopped (exit code ${code})`));
    });
    return (slot.worker = worker);
  }

  fileSealer(opts: StreamOptions): FileSealer {
    const { slot, stream } = this.pin();
    const hash = opts.wholeHash;
    return {
      readSeal: (args, out) => this.readSeal(slot, stream, hash, args, out),
      digest: () => (hash ? this.digest(slot, stream) : Promise.resolve(null)),
    };
  }

  /** One chunk read from `fd` and sealed on the least busy worker (no file hash): serving a received file's chunks. */
  sealOne(args: Parameters<FileSealer['readSeal']>[0], out: Buffer): Promise<{ id: string; blob: Buffer }> {
    return this.readSeal(this.leastBusy(), 0, false, args, out);
  }

  /** Workers in the pool. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * A writer for one file. Hashing the whole file needs its chunks in order on one worker; without
   * it each chunk goes to the least busy worker.
   */
  fileWriter(opts: StreamOptions): FileWriter {
    const { slot, stream } = this.pin();
    const hash = opts.wholeHash;
    return {
      reseal: (args, out) => this.readSeal(slot, stream, hash, args, out),
      openWrite: async (args, blob, length) => {
        const ab = transferable(blob);
        const worker = hash ? slot : this.leastBusy();
        const r = await this.run(worker, { op: 'openWrite', ...args, blob: ab, length, stream, hash }, [ab]);
        return { blob: Buffer.from(r.blob!, 0, r.blobLength), plainLength: r.plainLength! };
      },
      digest: () => (hash ? this.digest(slot, stream) : Promise.resolve(null)),
    };
  }

  /**
   * Checks a packed folder's chunk against `id`, opens it at its place and writes its pieces
   * into their files; chunks given to one pinned worker are written in the order given.
   */
  scatterer(): (args: Place & { id: string; pieces: WritePiece[] }, blob: Buffer, length: number) => Promise<Buffer> {
    const { slot } = this.pin();
    return async (args, blob, length) => {
      const ab = transferable(blob);
      const r = await this.run(slot, { op: 'openScatter', ...args, blob: ab, length }, [ab]);
      return Buffer.from(r.blob!, 0, r.blobLength);
    };
  }

  /**
   * Stops the workers once the tasks already given are answered (a busy worker holds the process
   * open): a worker stopped in the middle of a task could still create or write a file after its
   * caller cleaned up. Their termination is not awaited: seen under load, terminate() of a worker
   * that had just answered can leave its promise pending with nothing left to hold the process
   * open, and the command ended before its result (INTERNAL instead of the peer's error).
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending.values()].map((p) => p.answered));
    for (const s of this.slots) {
      const worker = s.worker;
      s.worker = null;
      if (worker !== null) void worker.terminate().catch(() => undefined);
    }
  }

  private leastBusy(): Slot {
    return this.slots.reduce((best, s) => (s.busy < best.busy ? s : best));
  }

  /** A worker for one file (files spread over the workers) and its hash stream. */
  private pin(): { slot: Slot; stream: number } {
    const stream = this.streams++;
    return { slot: this.slots[stream % this.slots.length]!, stream };
  }

  private async readSeal(slot: Slot, stream: number, hash: boolean, args: Parameters<FileSealer['readSeal']>[0], out: Buffer): Promise<{ id: string; blob: Buffer }> {
    const ab = transferable(out);
    const r = await this.run(slot, { op: 'readSeal', ...args, out: ab, stream, hash }, [ab]);
    return { id: r.id!, blob: Buffer.from(r.blob!, 0, r.blobLength) };
  }

  private async digest(slot: Slot, stream: number): Promise<string> {
    return (await this.run(slot, { op: 'digest', stream }, [])).digest!;
  }

  private run(slot: Slot, task: TaskInput, transfer: ArrayBuffer[]): Promise<WorkerDone> {
    if (this.closed) return Promise.reject(new Error('crypto pool closed'));
    const seq = this.seq++;
    const { promise: answered, resolve, reject } = Promise.withResolvers<WorkerDone>();
    this.pending.set(seq, { resolve, reject, answered });
    try {
      const worker = this.workerOf(slot);
      if (slot.busy++ === 0) worker.ref();
      worker.postMessage({ ...task, seq } as WorkerTask, transfer);
    } catch (err) {
      this.pending.delete(seq);
      reject(err as Error);
    }
    return answered;
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    if (--slot.busy === 0) slot.worker?.unref();
    const p = this.pending.get(reply.seq);
    if (!p) return;
    this.pending.delete(reply.seq);
    if (reply.ok) p.resolve(reply);
    else p.reject(isErrorCode(reply.code) ? new P2pfxError(reply.code, reply.message) : new Error(reply.message));
  }

  private failAll(err: Error): void {
    for (const [seq, p] of this.pending) {
      this.pending.delete(seq);
      p.reject(err);
    }
  }
}
