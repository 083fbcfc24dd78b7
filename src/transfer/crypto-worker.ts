// Runs in a worker thread: reading and sealing chunks of a file being sent, checking, opening
// and writing chunks of a file being received, and the whole-file SHA-256 of each where asked
// (format v1, folder members) — so the main thread only drives sockets. Every buffer handed in
// is handed back for reuse; plaintext goes through one buffer of the worker's own.
import { createHash, type Hash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { chunkId, openChunkInto, sealChunkInto } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { collectEvery } from '../core/gc.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import type { WorkerDone, WorkerReply, WorkerTask } from './crypto-tasks.js';

if (!parentPort) throw new Error('crypto-worker runs only as a worker thread');
const port = parentPort;
const streams = new Map<number, Hash>();
/** The plaintext of the chunk at hand (read to be sealed, or opened to be written). */
let plainBuffer = Buffer.alloc(0);
const afterChunk = collectEvery(4);


port.on('message', (task: WorkerTask) => {
  try {
    const [reply, transfer] = run(task);
    port.postMessage(reply, transfer);
    afterChunk();
  } catch (err) {
    const e = toError(err);
    const reply: WorkerReply = { seq: task.seq, ok: false, code: e.code, message: e.message };
    port.postMessage(reply);
  }
});

function run(task: WorkerTask): [WorkerDone, ArrayBuffer[]] {
  switch (task.op) {
    case 'readSeal': {
      const plain = readExactly(task.fd, plainOf(task.length), task.length, task.position, task.name);
      if (task.hash) stream(task.stream).update(plain);
      const out = task.out.byteLength >= task.length + BLOB_OVERHEAD_BYTES ? new Uint8Array(task.out) : Buffer.allocUnsafeSlow(task.length + BLOB_OVERHEAD_BYTES);
      const blob = sealChunkInto(out, task.key, task.noncePrefix, task, plain);
      return [{ seq: task.seq, ok: true, id: chunkId(blob), blob: out.buffer as ArrayBuffer, blobLength: blob.length }, [out.buffer as ArrayBuffer]];
    }
    case 'openWrite': {
      const plain = checkedOpen(task, new Uint8Array(task.blob, 0, task.length));
      if (task.hash) stream(task.stream).update(plain);
      writeFully(task.fd, plain, task.position);
      return [{ seq: task.seq, ok: true, blob: task.blob, blobLength: task.length, plainLength: plain.length }, [task.blob]];
    }
    case 'digest': {
      const digest = stream(task.stream).digest('hex');
      streams.delete(task.stream);
      return [{ seq: task.seq, ok: true, digest }, []];
    }
    default:
      throw new Error('unknown task');
  }
}

function checkedOpen(task: { id: string; key: Uint8Array; fileId: Uint8Array; index: number; last: boolean }, blob: Uint8Array): Buffer {
  const actual = chunkId(blob);
  if (actual !== task.id) throw new P2pfxError('HASH_MISMATCH', `chunk ${task.id}: bytes hash to ${actual}`);
  return openChunkInto(plainOf(blob.length), task.key, task, blob);
}

/** The worker's plaintext buffer, grown to hold `length` bytes. */
function plainOf(length: number): Buffer {
  if (plainBuffer.length < length) plainBuffer = Buffer.allocUnsafeSlow(length);
  return plainBuffer;
}

function readExactly(fd: number, buffer: Buffer, length: number, position: number, name: string): Buffer {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, got, length - got, position + got);
    if (n === 0) throw new P2pfxError('FILE_CHANGED', `${name} became shorter while being read`);
    got += n;
  }
  return buffer.subarray(0, length);
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, position + done);
}

function stream(id: number): Hash {
  let h = streams.get(id);
  if (!h) {
    h = createHash('sha256');
    streams.set(id, h);
  }
  return h;
}

function toError(err: unknown): { code: string; message: string } {
  if (err instanceof P2pfxError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return { code: 'INSUFFICIENT_STORAGE', message: 'no space left to write the received file' };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
