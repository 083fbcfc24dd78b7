// The benchmark's files: random data written in 1 MiB pieces (hashed on the way, never whole
// in memory), a fresh mtime so p2pfx treats the file as changed, and emptied chunk stores.
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../src/core/limits.js';

const PIECE_BYTES = 1 * MiB;
const SHARD = /^[0-9a-f]{2}$/;

/** Writes `bytes` of random data to `path`; resolves with its SHA-256 (hex). */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const piece = Buffer.allocUnsafe(PIECE_BYTES);
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < bytes; done += PIECE_BYTES) {
      const part = piece.subarray(0, Math.min(PIECE_BYTES, bytes - done));
      randomFillSync(part);
      hash.update(part);
      await fh.write(part);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

let stampSeconds = Math.floor(Date.now() / 1000);

/** Gives the file an mtime it never had before in this run: p2pfx then picks a new key and file id. */
export async function touchNew(path: string): Promise<void> {
  stampSeconds += 1;
  await utimes(path, stampSeconds, stampSeconds);
}

/** Removes the two-hex-digit shard folders of a chunk store; keeps chunks/.tmp. */
export async function emptyChunkStore(chunksDir: string): Promise<void> {
  const names = await readdir(chunksDir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => SHARD.test(n)).map((n) => rm(join(chunksDir, n), { recursive: true, force: true })));
}

/** SHA-256 of a file on disk, read as a stream. */
export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest('hex');
}
