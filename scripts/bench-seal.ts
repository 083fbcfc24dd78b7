// Reference 2: how fast one core seals and names chunks (sealChunk + chunkId), in process.
import { randomBytes } from 'node:crypto';
import { chunkId, DATA_KEY_BYTES, FILE_ID_BYTES, NONCE_PREFIX_BYTES, sealChunk } from '../src/core/chunk.js';
import { MiB } from '../src/core/limits.js';
import { mbps, secondsSince } from './bench-stats.js';

const PIECE_BYTES = 1 * MiB;
const TOTAL_BYTES = 256 * MiB;

/** Plaintext MB/s for 256 MiB sealed and hashed in 1 MiB pieces. */
export function sealHashMbps(): number {
  const key = randomBytes(DATA_KEY_BYTES);
  const prefix = randomBytes(NONCE_PREFIX_BYTES);
  const fileId = randomBytes(FILE_ID_BYTES);
  const plain = randomBytes(PIECE_BYTES);
  const count = TOTAL_BYTES / PIECE_BYTES;
  let ids = 0;
  const started = process.hrtime.bigint();
  for (let index = 0; index < count; index++) {
    if (chunkId(sealChunk(key, prefix, { fileId, index, last: index === count - 1 }, plain)).length === 64) ids++;
  }
  const seconds = secondsSince(started);
  if (ids !== count) throw new Error('sealHash: a chunk id was not 64 hex digits');
  return mbps(TOTAL_BYTES, seconds);
}
