import type { Credentials } from '../store/credentials.js';
import { wrapForNode, wrapWithPassword, type KeyEnvelope } from '../core/envelope.js';
import { BLOB_OVERHEAD_BYTES } from '../core/limits.js';
import { MANIFEST_VERSION, PACKED_MANIFEST_VERSION, sealMetadata, signManifest, type ChunkRef, type FileMetadata, type Manifest } from '../core/manifest.js';
import type { FileKey } from './file-key.js';

export interface ManifestInput {
  key: FileKey;
  chunkSize: number;
  chunks: ChunkRef[];
  metadata: FileMetadata;
  password?: string | undefined;
  /** Other nodes the file is for: each gets an envelope of its own. */
  recipients?: readonly { nodeId: string; x25519: Uint8Array }[];
}

/**
 * The signed manifest of a file: an envelope for this node always, one for each recipient, one
 * for a password if given.
 */
export async function buildManifest(creds: Credentials, input: ManifestInput): Promise<Manifest> {
  const { key } = input;
  const envelopes: KeyEnvelope[] = [wrapForNode(key.dataKey, key.fileIdBytes, creds.nodeId, creds.x25519.publicKey)];
  for (const r of input.recipients ?? []) {
    if (r.nodeId === creds.nodeId || envelopes.some((e) => e.type === 'x25519' && e.recipient === r.nodeId)) continue;
    envelopes.push(wrapForNode(key.dataKey, key.fileIdBytes, r.nodeId, r.x25519));
  }
  if (input.password !== undefined) envelopes.push(await wrapWithPassword(key.dataKey, key.fileIdBytes, input.password));
  const totalBytes = input.chunks.reduce((sum, c) => sum + c.size, 0);
  if (totalBytes !== input.metadata.size + input.chunks.length * BLOB_OVERHEAD_BYTES) throw new Error('chunk sizes do not add up to the file size');
  return signManifest({
    version: input.metadata.indexBytes === undefined ? MANIFEST_VERSION : PACKED_MANIFEST_VERSION,
    fileId: key.fileId,
    chunkSize: input.chunkSize,
    chunkCount: input.chunks.length,
    totalBytes,
    chunks: input.chunks,
    envelopes,
    metadata: sealMetadata(input.metadata, key.dataKey, key.fileIdBytes),
    createdAt: new Date().toISOString(),
    sender: { nodeId: creds.nodeId, certPem: creds.certPem },
  }, creds.keyPem);
}
