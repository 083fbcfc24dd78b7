/** What a transfer reports as it goes; the CLI and the UI render it. */
export interface TransferProgress {
  phase: 'reading' | 'sending' | 'fetching' | 'verifying' | 'done';
  /** The file's name; for a folder, the folder's name. */
  name: string;
  /** For a folder: over all its files (so a bar made for one file shows the whole folder). */
  doneBytes: number;
  totalBytes: number;
  /** For a folder: over the files whose chunk count is known so far (all of them when sending). */
  doneChunks: number;
  totalChunks: number;
  /**
   * Set for a folder (transfer/folder.ts): which member file moved, and how many are done.
   * Members' own 'done' events are reported in the folder's running phase; the folder reports
   * 'done' once, at the end.
   */
  folder?: FolderProgress;
}

export interface FolderProgress {
  /** The member file this event is about, as its path in the folder ('a/b.txt'); '' for none. */
  path: string;
  fileDoneBytes: number;
  fileTotalBytes: number;
  /** Member files finished (sent, or fetched and checked) out of all the folder's files. */
  doneFiles: number;
  totalFiles: number;
}

export type ProgressListener = (p: TransferProgress) => void;
