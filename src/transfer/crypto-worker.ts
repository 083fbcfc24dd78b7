// Runs in a worker thread: sealing, opening and hashing of chunks, off the main thread that
// drives the sockets and the disk. Every buffer handed in is handed back for reuse.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { chunkId, openChunk, sealChunkInto } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import type { WorkerDone, WorkerReply, WorkerTask } from './crypto-tasks.js';
import { transferable } from './transferable.js';

if (!parentPort) throw new Error('crypto-worker runs only as a worker thread');
const port = parentPort;
const streams = new Map<number, Hash>();

port.on('message', (task: WorkerTask) => {
  try {
    const [reply, transfer] = run(task);
    port.postMessage(reply, transfer);
  } catch (err) {
    const code = err instanceof P2pfxError ? err.code : 'INTERNAL';
    const reply: WorkerReply = { seq: task.seq, ok: false, code, message: err instanceof Error ? err.message : String(err) };
    port.postMessage(reply);
  }
});

function run(task: WorkerTask): [WorkerDone, ArrayBuffer[]] {
  switch (task.op) {
    case 'seal': {
      const plain = new Uint8Array(task.plain, 0, task.length);
      if (task.stream !== null) stream(task.stream).update(plain);
      const out = task.out && task.out.byteLength >= task.length + BLOB_OVERHEAD_BYTES ? new Uint8Array(task.out) : Buffer.allocUnsafeSlow(task.length + BLOB_OVERHEAD_BYTES);
      const blob = sealChunkInto(out, task.key, task.noncePrefix, { fileId: task.fileId, index: task.index, last: task.last }, plain);
      const blobBuffer = out.buffer as ArrayBuffer;
      return [{ seq: task.seq, ok: true, id: chunkId(blob), blob: blobBuffer, blobLength: blob.length, plain: task.plain, plainLength: task.length }, [blobBuffer, task.plain]];
    }
    case 'open': {
      const blob = new Uint8Array(task.blob, 0, task.length);
      const actual = chunkId(blob);
      if (actual !== task.id) throw new P2pfxError('HASH_MISMATCH', `chunk ${task.id}: bytes hash to ${actual}`);
      const plain = transferable(openChunk(task.key, { fileId: task.fileId, index: task.index, last: task.last }, blob));
      return [{ seq: task.seq, ok: true, plain, plainLength: plain.byteLength, blob: task.blob, blobLength: task.length }, [plain, task.blob]];
    }
    case 'hash': {
      const h = stream(task.stream);
      if (task.final) {
        streams.delete(task.stream);
        return [{ seq: task.seq, ok: true, digest: h.digest('hex') }, []];
      }
      if (!task.data) return [{ seq: task.seq, ok: true }, []];
      h.update(new Uint8Array(task.data, 0, task.length));
      return [{ seq: task.seq, ok: true, plain: task.data, plainLength: task.length }, [task.data]];
    }
    default:
      throw new Error('unknown task');
  }
}

function stream(id: number): Hash {
  let h = streams.get(id);
  if (!h) {
    h = createHash('sha256');
    streams.set(id, h);
  }
  return h;
}
