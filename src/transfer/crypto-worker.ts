// Runs in a worker thread: sealing, opening and hashing of chunks, off the main thread that
// drives the sockets. Messages are plain objects; buffers travel as transferred ArrayBuffers.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { chunkId, openChunk, sealChunk } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { transferable } from './transferable.js';
import type { WorkerReply, WorkerTask } from './crypto-tasks.js';

if (!parentPort) throw new Error('crypto-worker runs only as a worker thread');
const port = parentPort;
const streams = new Map<number, Hash>();

port.on('message', (task: WorkerTask) => {
  try {
    port.postMessage(...run(task));
  } catch (err) {
    const code = err instanceof P2pfxError ? err.code : 'INTERNAL';
    const reply: WorkerReply = { seq: task.seq, ok: false, code, message: err instanceof Error ? err.message : String(err) };
    port.postMessage(reply);
  }
});

function run(task: WorkerTask): [WorkerReply, ArrayBuffer[]] {
  switch (task.op) {
    case 'seal': {
      const plain = new Uint8Array(task.plain);
      const place = { fileId: task.fileId, index: task.index, last: task.last };
      const blob = sealChunk(task.key, task.noncePrefix, place, plain);
      const out = transferable(blob);
      return [{ seq: task.seq, ok: true, id: chunkId(blob), blob: out }, [out]];
    }
    case 'open': {
      const blob = new Uint8Array(task.blob);
      const actual = chunkId(blob);
      if (actual !== task.id) throw new P2pfxError('HASH_MISMATCH', `chunk ${task.id}: bytes hash to ${actual}`);
      const plain = openChunk(task.key, { fileId: task.fileId, index: task.index, last: task.last }, blob);
      const out = transferable(plain);
      return [{ seq: task.seq, ok: true, plain: out }, [out]];
    }
    case 'hash': {
      const h = stream(task.stream);
      if (task.data) h.update(new Uint8Array(task.data));
      if (!task.final) return [{ seq: task.seq, ok: true }, []];
      streams.delete(task.stream);
      return [{ seq: task.seq, ok: true, digest: h.digest('hex') }, []];
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
