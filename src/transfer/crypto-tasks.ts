// The messages between the crypto pool and its workers.

export type WorkerTask =
  | { op: 'seal'; seq: number; key: Uint8Array; noncePrefix: Uint8Array; fileId: Uint8Array; index: number; last: boolean; plain: ArrayBuffer }
  | { op: 'open'; seq: number; key: Uint8Array; fileId: Uint8Array; index: number; last: boolean; id: string; blob: ArrayBuffer }
  | { op: 'hash'; seq: number; stream: number; data?: ArrayBuffer; final?: boolean };

export type WorkerReply =
  | { seq: number; ok: true; id?: string; blob?: ArrayBuffer; plain?: ArrayBuffer; digest?: string }
  | { seq: number; ok: false; code: string; message: string };
