// The data key of a file being sent, kept across runs in the send journal so that a resumed
// send produces the same chunks — and replaced whenever the file may have changed, so that a
// (key, nonce) pair never seals two different plaintexts.
import { randomBytes } from 'node:crypto';
import { DATA_KEY_BYTES, FILE_ID_BYTES, NONCE_PREFIX_BYTES } from '../core/chunk.js';
import { unwrapForNode, wrapForNode, type X25519Envelope } from '../core/envelope.js';
import type { LocalNode } from '../store/local-node.js';
import type { SendJournalEntry } from '../store/index-db.js';

export interface FileKey {
  fileId: string;
  fileIdBytes: Buffer;
  dataKey: Buffer;
  noncePrefix: Buffer;
  /** Chunk ids already sealed under this key (and so possibly sent), by index. */
  sealed: Map<number, { id: string; size: number }>;
  /** An earlier run read the file to the end under this key (every chunk id is journalled). */
  complete: boolean;
  /** Whole-file SHA-256, when such a run hashed the file. */
  sha256: string | null;
}

export interface FileStamp { path: string; chunkSize: number; size: number; mtimeMs: number }

/** The journal's key when size and mtime still match, else a new key under a new file id. */
export function fileKeyFor(node: LocalNode, stamp: FileStamp): FileKey {
  const entry = node.db.getJournal(stamp.path, stamp.chunkSize);
  if (entry && entry.size === stamp.size && entry.mtimeMs === stamp.mtimeMs) {
    const fileIdBytes = Buffer.from(entry.fileId, 'hex');
    const dataKey = unwrapForNode(JSON.parse(entry.keyEnvelope) as X25519Envelope, fileIdBytes, node.creds.x25519);
    if (dataKey) {
      return {
        fileId: entry.fileId, fileIdBytes, dataKey, noncePrefix: Buffer.from(entry.noncePrefix, 'hex'),
        sealed: node.db.sealedChunks(entry.fileId), complete: entry.complete, sha256: entry.sha256,
      };
    }
  }
  return newFileKey(node, stamp);
}

/** A fresh key and file id, journalled (wrapped for this node) before anything is sealed. */
export function newFileKey(node: LocalNode, stamp: FileStamp): FileKey {
  const fileIdBytes = randomBytes(FILE_ID_BYTES);
  const key: FileKey = {
    fileId: fileIdBytes.toString('hex'), fileIdBytes, dataKey: randomBytes(DATA_KEY_BYTES),
    noncePrefix: randomBytes(NONCE_PREFIX_BYTES), sealed: new Map(), complete: false, sha256: null,
  };
  const entry: SendJournalEntry = {
    ...stamp,
    fileId: key.fileId,
    keyEnvelope: JSON.stringify(wrapForNode(key.dataKey, fileIdBytes, node.creds.nodeId, node.creds.x25519.publicKey)),
    noncePrefix: key.noncePrefix.toString('hex'),
    complete: false,
    sha256: null,
  };
  node.db.startJournal(entry);
  return key;
}
