// The messages between the crypto pool and its workers. Buffers travel as transferred
// ArrayBuffers with the length in use, and come back, so the caller can reuse them.

export type WorkerTask =
  | {
    op: 'seal'; seq: number; key: Uint8Array; noncePrefix: Uint8Array; fileId: Uint8Array; index: number; last: boolean;
    plain: ArrayBuffer; length: number; out: ArrayBuffer | null; stream: number | null;
  }
  | { op: 'open'; seq: number; key: Uint8Array; fileId: Uint8Array; index: number; last: boolean; id: string; blob: ArrayBuffer; length: number }
  | { op: 'hash'; seq: number; stream: number; data: ArrayBuffer | null; length: number; final: boolean };

export interface WorkerDone {
  seq: number;
  ok: true;
  id?: string;
  /** The sealed blob (seal), or the buffer handed in (open). */
  blob?: ArrayBuffer;
  blobLength?: number;
  /** The buffer handed in (seal, hash), or the plaintext (open). */
  plain?: ArrayBuffer;
  plainLength?: number;
  digest?: string;
}

export type WorkerReply = WorkerDone | { seq: number; ok: false; code: string; message: string };
