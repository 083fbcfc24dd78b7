/** What a transfer reports as it goes; the CLI and the UI render it. */
export interface TransferProgress {
  phase: 'reading' | 'sending' | 'fetching' | 'verifying' | 'done';
  name: string;
  doneBytes: number;
  totalBytes: number;
  doneChunks: number;
  totalChunks: number;
}

export type ProgressListener = (p: TransferProgress) => void;
