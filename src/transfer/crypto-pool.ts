// A small pool of worker threads for the CPU-heavy part of a transfer — sealing, opening and
// hashing chunks — so that the main thread keeps the sockets and the disk busy. Buffers are
// transferred (moved, not copied) into the workers and back.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import type { WorkerDone, WorkerReply, WorkerTask } from './crypto-tasks.js';
import { transferable } from './transferable.js';

type Pending = { resolve: (r: WorkerDone) => void; reject: (e: Error) => void };
type TaskInput = WorkerTask extends infer T ? (T extends WorkerTask ? Omit<T, 'seq'> : never) : never;

interface Slot { worker: Worker; busy: number }

export interface SealArgs { key: Uint8Array; noncePrefix: Uint8Array; fileId: Uint8Array; index: number; last: boolean }
export interface OpenArgs { key: Uint8Array; fileId: Uint8Array; index: number; last: boolean; id: string }

/** Seals the chunks of one file in one worker, which also hashes the whole plaintext in order. */
export interface FileSealer {
  /**
   * Seals the first `length` bytes of `plain`. `plain` and `out` (where the blob is written, if
   * large enough) are moved to the worker and come back as `plain` and `blob`'s buffer.
   */
  seal(args: SealArgs, plain: Buffer, length: number, out: Buffer | null): Promise<{ id: string; blob: Buffer; plain: Buffer }>;
  /** SHA-256 of every plaintext sealed, in the order seal() was called. */
  digest(): Promise<string>;
}

/** A SHA-256 computed in one worker over the pieces given, in order; each piece comes back. */
export interface StreamHasher {
  update(piece: Buffer): Promise<Buffer>;
  digest(): Promise<string>;
}

/** Workers for this machine: leave a core to the main thread, at most 4. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class CryptoPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private streams = 0;
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

  fileSealer(): FileSealer {
    const stream = this.streams++;
    const slot = this.slots[stream % this.slots.length]!;
    return {
      seal: async (args, plain, length, out) => {
        const plainAb = transferable(plain);
        const outAb = out ? transferable(out) : null;
        const r = await this.run(slot, { op: 'seal', ...args, plain: plainAb, length, out: outAb, stream }, outAb && outAb !== plainAb ? [plainAb, outAb] : [plainAb]);
        return { id: r.id!, blob: Buffer.from(r.blob!, 0, r.blobLength), plain: Buffer.from(r.plain!, 0, r.plainLength) };
      },
      digest: async () => (await this.run(slot, { op: 'hash', stream, data: null, length: 0, final: true }, [])).digest!,
    };
  }

  /**
   * Checks the first `length` bytes of `blob` against the id and opens them (HASH_MISMATCH or
   * DECRYPT_FAILED otherwise). `blob` moves to the worker and comes back.
   */
  async open(args: OpenArgs, blob: Buffer, length = blob.length): Promise<{ plain: Buffer; blob: Buffer }> {
    const ab = transferable(blob);
    const r = await this.run(this.leastBusy(), { op: 'open', ...args, blob: ab, length }, [ab]);
    return { plain: Buffer.from(r.plain!, 0, r.plainLength), blob: Buffer.from(r.blob!, 0, r.blobLength) };
  }

  hasher(): StreamHasher {
    const stream = this.streams++;
    const slot = this.slots[stream % this.slots.length]!;
    return {
      update: async (piece) => {
        const ab = transferable(piece);
        const r = await this.run(slot, { op: 'hash', stream, data: ab, length: piece.length, final: false }, [ab]);
        return Buffer.from(r.plain!, 0, r.plainLength);
      },
      digest: async () => (await this.run(slot, { op: 'hash', stream, data: null, length: 0, final: true }, [])).digest!,
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

  private run(slot: Slot, task: TaskInput, transfer: ArrayBuffer[]): Promise<WorkerDone> {
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
