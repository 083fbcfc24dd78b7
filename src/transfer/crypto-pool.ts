// A small pool of worker threads for the CPU-heavy part of a transfer — sealing, opening and
// hashing chunks — so that the main thread keeps the sockets and the disk busy. Buffers are
// transferred, not copied, into and out of the workers.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import type { WorkerReply, WorkerTask } from './crypto-tasks.js';
import { copyOf, transferable } from './transferable.js';

type Pending = { resolve: (r: WorkerReply & { ok: true }) => void; reject: (e: Error) => void };
type TaskInput = WorkerTask extends infer T ? (T extends WorkerTask ? Omit<T, 'seq'> : never) : never;

interface Slot { worker: Worker; busy: number }

export interface SealArgs { key: Uint8Array; noncePrefix: Uint8Array; fileId: Uint8Array; index: number; last: boolean }
export interface OpenArgs { key: Uint8Array; fileId: Uint8Array; index: number; last: boolean; id: string }

/** Workers for this machine: leave a core to the main thread, at most 4. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class CryptoPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private nextStream = 0;
  private closed = false;

  constructor(size = defaultPoolSize()) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./crypto-worker.js', import.meta.url));
      worker.unref();
      worker.on('message', (reply: WorkerReply) => this.settle(reply));
      worker.on('error', (err) => this.failAll(err));
      this.slots.push({ worker, busy: 0 });
    }
  }

  /** Seals `plain` (its memory is handed to the worker: do not touch it afterwards). */
  async seal(args: SealArgs, plain: Buffer): Promise<{ blob: Buffer; id: string }> {
    const ab = transferable(plain);
    const r = await this.run(this.leastBusy(), { op: 'seal', ...args, plain: ab }, [ab]);
    return { blob: Buffer.from(r.blob!), id: r.id! };
  }

  /** Checks `blob` against its id and opens it; HASH_MISMATCH or DECRYPT_FAILED otherwise. */
  async open(args: OpenArgs, blob: Buffer): Promise<Buffer> {
    const ab = transferable(blob);
    const r = await this.run(this.leastBusy(), { op: 'open', ...args, blob: ab }, [ab]);
    return Buffer.from(r.plain!);
  }

  /** A SHA-256 computed in one worker over the pieces given, in order (each piece is copied). */
  hasher(): StreamHasher {
    const stream = this.nextStream++;
    const slot = this.slots[stream % this.slots.length]!;
    return {
      update: async (data) => {
        await this.run(slot, { op: 'hash', stream, data: copyOf(data) }, []);
      },
      digest: async () => (await this.run(slot, { op: 'hash', stream, final: true }, [])).digest!,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.failAll(new Error('crypto pool closed'));
  }

  private leastBusy(): Slot {
    return this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  private run(slot: Slot, task: TaskInput, transfer: ArrayBuffer[]): Promise<WorkerReply & { ok: true }> {
    if (this.closed) return Promise.reject(new Error('crypto pool closed'));
    const seq = this.seq++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        resolve: (r) => { slot.busy--; resolve(r); },
        reject: (e) => { slot.busy--; reject(e); },
      });
      slot.worker.postMessage({ ...task, seq } as WorkerTask, transfer);
    });
  }

  private settle(reply: WorkerReply): void {
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

export interface StreamHasher {
  update(data: Uint8Array): Promise<void>;
  digest(): Promise<string>;
}

