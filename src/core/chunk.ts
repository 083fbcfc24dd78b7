// Chunk format v1 (DESIGN "Formats > Chunk"):
//   nonce = noncePrefix (8) ‖ index uint32 BE
//   aad   = "p2pfx/1" ‖ fileId (16) ‖ index uint64 BE ‖ last (1)
//   blob  = 0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//   id    = hex SHA-256(blob)
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { P2pfxError } from './errors.js';
import { BLOB_OVERHEAD_BYTES, CIPHER_SLICE_BYTES, MAX_CHUNKS_PER_FILE } from './limits.js';

export const BLOB_FORMAT_V1 = 0x01;
export const DATA_KEY_BYTES = 32;
export const NONCE_PREFIX_BYTES = 8;
export const FILE_ID_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AAD_LABEL = Buffer.from('p2pfx/1', 'ascii');

/** Where a chunk belongs: sealing binds it to this place, so it cannot be moved. */
export interface ChunkPlace {
  fileId: Uint8Array;
  index: number;
  last: boolean;
}

export function chunkNonce(noncePrefix: Uint8Array, index: number): Buffer {
  checkIndex(index);
  if (noncePrefix.length !== NONCE_PREFIX_BYTES) throw new RangeError('nonce prefix must be 8 bytes');
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.set(noncePrefix, 0);
  nonce.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  return nonce;
}

export function chunkAad(place: ChunkPlace): Buffer {
  checkIndex(place.index);
  if (place.fileId.length !== FILE_ID_BYTES) throw new RangeError('file id must be 16 bytes');
  const aad = Buffer.alloc(AAD_LABEL.length + FILE_ID_BYTES + 8 + 1);
  AAD_LABEL.copy(aad, 0);
  aad.set(place.fileId, AAD_LABEL.length);
  aad.writeBigUInt64BE(BigInt(place.index), AAD_LABEL.length + FILE_ID_BYTES);
  aad[aad.length - 1] = place.last ? 1 : 0;
  return aad;
}

/** Seals one piece of plaintext into a blob. Deterministic for a given key, prefix, place and plaintext. */
export function sealChunk(key: Uint8Array, noncePrefix: Uint8Array, place: ChunkPlace, plaintext: Uint8Array): Buffer {
  return sealChunkInto(Buffer.allocUnsafe(BLOB_OVERHEAD_BYTES + plaintext.length), key, noncePrefix, place, plaintext);
}

/**
 * Like sealChunk, writing the blob at the start of `out` (reused buffers); returns that view.
 * The cipher is fed CIPHER_SLICE_BYTES at a time and each slice's output copied into place.
 */
export function sealChunkInto(out: Uint8Array, key: Uint8Array, noncePrefix: Uint8Array, place: ChunkPlace, plaintext: Uint8Array): Buffer {
  if (out.length < BLOB_OVERHEAD_BYTES + plaintext.length) throw new RangeError('output buffer too small for the blob');
  const nonce = chunkNonce(noncePrefix, place.index);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(chunkAad(place));
  const blob = Buffer.from(out.buffer, out.byteOffset, BLOB_OVERHEAD_BYTES + plaintext.length);
  blob[0] = BLOB_FORMAT_V1;
  nonce.copy(blob, 1);
  const at = updateInSlices(cipher, plaintext, blob, 1 + NONCE_BYTES);
  blob.set(cipher.final(), at);
  cipher.getAuthTag().copy(blob, blob.length - TAG_BYTES);
  return blob;
}

/** Runs `input` through the cipher a slice at a time, writing the output at out[at…]; returns the end. */
function updateInSlices(cipher: { update(data: Uint8Array): Buffer }, input: Uint8Array, out: Uint8Array, at: number): number {
  for (let i = 0; i < input.length; i += CIPHER_SLICE_BYTES) {
    const piece = cipher.update(input.subarray(i, i + CIPHER_SLICE_BYTES));
    out.set(piece, at);
    at += piece.length;
  }
  return at;
}

/**
 * Opens a blob sealed for `place`. Throws DECRYPT_FAILED when the key is wrong or the blob
 * was sealed for another file, index or last-flag.
 */
export function openChunk(key: Uint8Array, place: ChunkPlace, blob: Uint8Array): Buffer {
  return openChunkInto(Buffer.allocUnsafe(Math.max(0, blob.length - BLOB_OVERHEAD_BYTES)), key, place, blob);
}

/**
 * Like openChunk, writing the plaintext at the start of `out` (a reused buffer at least
 * blob length − BLOB_OVERHEAD_BYTES long); returns the view of it. `out` may be the blob itself
 * (opened in place): each slice's plaintext lands behind the ciphertext still to be read, and the
 * nonce and tag are taken before the first slice. On DECRYPT_FAILED `out` holds
 * unauthenticated bytes: the caller must not use them.
 */
export function openChunkInto(out: Uint8Array, key: Uint8Array, place: ChunkPlace, blob: Uint8Array): Buffer {
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (bytes.length < BLOB_OVERHEAD_BYTES || bytes[0] !== BLOB_FORMAT_V1) {
    throw new P2pfxError('DECRYPT_FAILED', `chunk ${place.index}: not a v1 blob`);
  }
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  if (nonce.readUInt32BE(NONCE_PREFIX_BYTES) !== place.index) {
    throw new P2pfxError('DECRYPT_FAILED', `chunk ${place.index}: sealed for index ${nonce.readUInt32BE(NONCE_PREFIX_BYTES)}`);
  }
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(chunkAad(place));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const plainLength = bytes.length - BLOB_OVERHEAD_BYTES;
  if (out.length < plainLength) throw new RangeError('output buffer too small for the plaintext');
  const plain = Buffer.from(out.buffer, out.byteOffset, plainLength);
  try {
    const at = updateInSlices(decipher, bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES), plain, 0);
    plain.set(decipher.final(), at);
    return plain;
  } catch (err) {
    throw new P2pfxError('DECRYPT_FAILED', `chunk ${place.index} does not open with this file's key at this place`, { cause: err });
  }
}

export function chunkId(blob: Uint8Array): string {
  return createHash('sha256').update(blob).digest('hex');
}

/** The nonce prefix a blob was sealed with (all chunks of a file share it). */
export function blobNoncePrefix(blob: Uint8Array): Buffer {
  return Buffer.from(blob.subarray(1, 1 + NONCE_PREFIX_BYTES));
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > MAX_CHUNKS_PER_FILE - 1) {
    throw new RangeError(`chunk index out of range: ${index}`);
  }
}
