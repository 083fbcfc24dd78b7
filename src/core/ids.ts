import { P2pfxError } from './errors.js';

/** A chunk id: lowercase hex SHA-256 of the blob. Checked before it touches a path. */
export const CHUNK_ID_RE = /^[0-9a-f]{64}$/;
/** A file id: 16 random bytes, lowercase hex. */
export const FILE_ID_RE = /^[0-9a-f]{32}$/;

/** A node name: 1–64 of A-Z a-z 0-9 . _ -, and not "." or ".." (it becomes a folder name: bundles/NAME). */
export const NODE_NAME_RE = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,64}$/;

export function isNodeName(value: unknown): value is string {
  return typeof value === 'string' && NODE_NAME_RE.test(value);
}

export function isChunkId(value: unknown): value is string {
  return typeof value === 'string' && CHUNK_ID_RE.test(value);
}

export function isFileId(value: unknown): value is string {
  return typeof value === 'string' && FILE_ID_RE.test(value);
}

export function assertChunkId(value: unknown): string {
  if (!isChunkId(value)) throw new P2pfxError('INVALID_ID', `not a chunk id: ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
