// The chunks a received file stands for (DESIGN "Disk: what a node holds"): which file, at which
// index, and what it takes to seal them again (the file's nonce prefix, chunk size and count).
// Where the file is, and its size and mtime as written, are those recorded in received_files.
import type { Sqlite } from './sqlite.js';

/** A chunk this node keeps as part of a received file, and where that file is. */
export interface BackedChunk {
  chunkId: string;
  fileId: string;
  index: number;
  /** The blob's size. */
  size: number;
  noncePrefix: string;
  chunkSize: number;
  chunkCount: number;
  path: string;
  /** The file's size and mtime when it was written. */
  fileSize: number;
  fileMtimeMs: number;
}

export interface BackedFile { fileId: string; path: string; fileSize: number; fileMtimeMs: number; chunks: number; bytes: number }

export class FileChunkTable {
  constructor(private readonly db: Sqlite) {}

  /**
   * Records that the file received as `file.fileId` stands for `chunks` from now on. Any other
   * file recorded at the same path stands for nothing any more (it was replaced there).
   */
  back(file: { fileId: string; noncePrefix: string; chunkSize: number; chunkCount: number }, chunks: ReadonlyArray<{ id: string; index: number; size: number }>): void {
    this.db.transaction(() => {
      for (const other of this.db.all<{ fileId: string }>(
        `SELECT b.file_id AS fileId FROM backed_files b JOIN received_files r ON r.file_id = b.file_id
         WHERE r.path = (SELECT path FROM received_files WHERE file_id = ?) AND b.file_id != ?`, file.fileId, file.fileId)) {
        this.drop(other.fileId);
      }
      this.drop(file.fileId);
      this.db.run('INSERT INTO backed_files (file_id, nonce_prefix, chunk_size, chunk_count) VALUES (?, ?, ?, ?)', file.fileId, file.noncePrefix, file.chunkSize, file.chunkCount);
      for (const c of chunks) this.db.run('INSERT OR REPLACE INTO file_chunks (chunk_id, file_id, idx, size) VALUES (?, ?, ?, ?)', c.id, file.fileId, c.index, c.size);
    });
  }

  /** The received file a chunk is made from, or null when no file stands for it. */
  lookup(chunkId: string): BackedChunk | null {
    return this.db.get<BackedChunk>(
      `SELECT c.chunk_id AS chunkId, c.file_id AS fileId, c.idx AS "index", c.size, b.nonce_prefix AS noncePrefix, b.chunk_size AS chunkSize,
              b.chunk_count AS chunkCount, r.path, r.size AS fileSize, r.mtime_ms AS fileMtimeMs
       FROM file_chunks c JOIN backed_files b ON b.file_id = c.file_id JOIN received_files r ON r.file_id = c.file_id
       WHERE c.chunk_id = ? AND r.size IS NOT NULL AND r.mtime_ms IS NOT NULL`, chunkId) ?? null;
  }

  /** The file stands for nothing any more (forgotten, edited, replaced): how many chunks it stood for. */
  drop(fileId: string): number {
    return this.db.transaction(() => {
      this.db.run('DELETE FROM backed_files WHERE file_id = ?', fileId);
      return this.db.run('DELETE FROM file_chunks WHERE file_id = ?', fileId);
    });
  }

  /** Every received file that stands for chunks, with how many and their bytes as blobs. */
  files(): BackedFile[] {
    return this.db.all<BackedFile>(
      `SELECT b.file_id AS fileId, r.path, r.size AS fileSize, r.mtime_ms AS fileMtimeMs, COUNT(c.chunk_id) AS chunks, COALESCE(SUM(c.size), 0) AS bytes
       FROM backed_files b JOIN received_files r ON r.file_id = b.file_id LEFT JOIN file_chunks c ON c.file_id = b.file_id
       GROUP BY b.file_id ORDER BY r.path`);
  }
}
