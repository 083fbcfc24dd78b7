// The messages between the crypto pool and its workers. Buffers travel as transferred
// ArrayBuffers with the length in use, and come back, so the caller can reuse them. File
// descriptors are process-wide: a worker reads and writes the file itself, so plaintext never
// crosses threads.

export interface ChunkPlaceMsg { key: Uint8Array; fileId: Uint8Array; index: number; last: boolean }

/**
 * A piece of a packed folder's chunk: `length` bytes of the file at `path` from `position`. The
 * worker opens it without following a link and refuses it (FILE_CHANGED) unless it is still the
 * regular file the walk saw: `size` bytes, inode `ino` (when given).
 */
export interface ReadPart { path: string; position: number; length: number; size: number; ino?: number }

export type WorkerTask =
  | (ChunkPlaceMsg & { op: 'readSeal'; seq: number; noncePrefix: Uint8Array; fd: number; position: number; length: number; name: string; out: ArrayBuffer; stream: number; hash: boolean; parts?: ReadPart[] })
  | (ChunkPlaceMsg & { op: 'openWrite'; seq: number; id: string; blob: ArrayBuffer; length: number; fd: number; position: number; stream: number; hash: boolean })
  | { op: 'digest'; seq: number; stream: number }
  | (ChunkPlaceMsg & { op: 'openScatter'; seq: number; id: string; blob: ArrayBuffer; length: number; pieces: WritePiece[] });

/**
 * Where a piece of a packed folder's chunk goes: `length` bytes from the chunk's byte
 * `chunkOffset` into the file at `path` (never followed if a link) at `fileOffset`. The first
 * piece of a file creates it (O_EXCL: a name already there is a collision, never opened); the
 * last one gives it its mode and mtime (`finish`).
 */
export interface WritePiece { path: string; fileOffset: number; chunkOffset: number; length: number; create: boolean; finish: { mode: number; mtimeMs: number } | null }

export interface WorkerDone {
  seq: number;
  ok: true;
  id?: string;
  /** The sealed blob (readSeal), or the blob handed in (openWrite). */
  blob?: ArrayBuffer;
  blobLength?: number;
  plainLength?: number;
  digest?: string;
}

export type WorkerReply = WorkerDone | { seq: number; ok: false; code: string; message: string };
