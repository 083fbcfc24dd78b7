// Runs in a worker thread: reading and sealing chunks of a file being sent, checking, opening
// and writing chunks of a file being received, and the whole-file SHA-256 of each where asked
// (format v1, folder members) — so the main thread only drives sockets. Every buffer handed in
// is handed back for reuse; plaintext goes through one buffer of the worker's own.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, futimesSync, openSync, readSync, write, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { chunkId, openChunkInto, sealChunkInto } from '../core/chunk.js';
import { P2pfxError } from '../core/errors.js';
import { collectEvery } from '../core/gc.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import type { ReadPart, WorkerDone, WorkerReply, WorkerTask, WritePiece } from './crypto-tasks.js';

if (!parentPort) throw new Error('crypto-worker runs only as a worker thread');
const port = parentPort;
const streams = new Map<number, Hash>();
/** The plaintext of the chunk at hand (read to be sealed, or opened to be written). */
let plainBuffer = Buffer.alloc(0);
const afterChunk = collectEvery(4);


port.on('message', (task: WorkerTask) => {
  try {
    const done = run(task);
    if (Array.isArray(done)) reply(done);
    else done.then(reply, (err: unknown) => fail(task, err));
  } catch (err) {
    fail(task, err);
  }
});

function reply([done, transfer]: [WorkerDone, ArrayBuffer[]]): void {
  port.postMessage(done, transfer);
  afterChunk();
}

function fail(task: WorkerTask, err: unknown): void {
  const e = toError(err);
  const failed: WorkerReply = { seq: task.seq, ok: false, code: e.code, message: e.message };
  port.postMessage(failed);
}

function run(task: WorkerTask): [WorkerDone, ArrayBuffer[]] | Promise<[WorkerDone, ArrayBuffer[]]> {
  switch (task.op) {
    case 'readSeal': {
      const plain = task.parts === undefined
        ? readExactly(task.fd, plainOf(task.length), task.length, task.position, task.name)
        : readParts(task.parts, plainOf(task.length), task.length);
      if (task.hash) stream(task.stream).update(plain);
      const out = task.out.byteLength >= task.length + BLOB_OVERHEAD_BYTES ? new Uint8Array(task.out) : Buffer.allocUnsafeSlow(task.length + BLOB_OVERHEAD_BYTES);
      const blob = sealChunkInto(out, task.key, task.noncePrefix, task, plain);
      return [{ seq: task.seq, ok: true, id: chunkId(blob), blob: out.buffer as ArrayBuffer, blobLength: blob.length }, [out.buffer as ArrayBuffer]];
    }
    case 'openWrite': {
      // Opened in place (the plaintext lands over the blob it comes from, behind the bytes still
      // to be read), then written by libuv's pool: the kernel's copy into the page cache — the
      // largest cost of a download on this VM — overlaps the next chunk's hash and decryption.
      const blob = new Uint8Array(task.blob, 0, task.length);
      const plain = checkedOpen(task, blob, blob);
      if (task.hash) stream(task.stream).update(plain);
      return writeFully(task.fd, plain, task.position).then(() => [
        { seq: task.seq, ok: true, blob: task.blob, blobLength: task.length, plainLength: plain.length },
        [task.blob],
      ]);
    }
    case 'openScatter': {
      const blob = new Uint8Array(task.blob, 0, task.length);
      const plain = checkedOpen(task, blob, blob);
      scatter(plain, task.pieces);
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

function checkedOpen(task: { id: string; key: Uint8Array; fileId: Uint8Array; index: number; last: boolean }, blob: Uint8Array, out: Uint8Array): Buffer {
  const actual = chunkId(blob);
  if (actual !== task.id) throw new P2pfxError('HASH_MISMATCH', `chunk ${task.id}: bytes hash to ${actual}`);
  return openChunkInto(out, task.key, task, blob);
}

/** The worker's plaintext buffer, grown to hold `length` bytes. */
function plainOf(length: number): Buffer {
  if (plainBuffer.length < length) plainBuffer = Buffer.allocUnsafeSlow(length);
  return plainBuffer;
}

/** A packed folder's chunk written out: each piece into its file (created before, never followed). */
function scatter(plain: Buffer, pieces: readonly WritePiece[]): void {
  for (const piece of pieces) {
    if (piece.chunkOffset + piece.length > plain.length) throw new P2pfxError('BAD_MANIFEST', `folder index: ${piece.path} runs past its chunk`);
    let fd: number;
    try {
      fd = openSync(piece.path, constants.O_WRONLY | constants.O_NOFOLLOW | (piece.create ? constants.O_CREAT | constants.O_EXCL : 0), 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw new P2pfxError('BAD_MANIFEST', `folder index: ${piece.path} names the same entry as another of its paths on this filesystem`);
    }
    try {
      const data = plain.subarray(piece.chunkOffset, piece.chunkOffset + piece.length);
      for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, piece.fileOffset + done);
      if (piece.finish) {
        fchmodSync(fd, piece.finish.mode);
        futimesSync(fd, piece.finish.mtimeMs / 1000, piece.finish.mtimeMs / 1000);
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** A packed folder's chunk: each piece read from its own file, one after the other. */
function readParts(parts: readonly ReadPart[], buffer: Buffer, length: number): Buffer {
  let at = 0;
  for (const part of parts) {
    let fd: number;
    try {
      fd = openSync(part.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw new P2pfxError('FILE_CHANGED', `${part.path} is gone or became a link while the folder was being sent`, { cause: err });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size !== part.size || (part.ino !== undefined && st.ino !== part.ino)) throw new P2pfxError('FILE_CHANGED', `${part.path} changed while the folder was being sent`);
      readExactly(fd, buffer.subarray(at), part.length, part.position, part.path);
    } finally {
      closeSync(fd);
    }
    at += part.length;
  }
  if (at !== length) throw new Error('a packed chunk\'s pieces do not add up to its length');
  return buffer.subarray(0, length);
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

/** Writes all of `data` at `position`, on libuv's thread pool (a short write goes on where it stopped). */
function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (done: number): void => {
      if (done === data.length) return resolve();
      write(fd, data, done, data.length - done, position + done, (err, n) => (err ? reject(err) : from(done + n)));
    };
    from(0);
  });
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
