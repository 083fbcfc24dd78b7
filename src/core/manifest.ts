// Manifest v2 (DESIGN "Formats > Manifest"; v1 still read): what a receiver needs to fetch,
// check and open a file. v2 differs from v1 in one thing: the sealed metadata need not carry a
// whole-file SHA-256 (the signed, ordered chunk ids and each chunk's place-bound AEAD already
// authenticate every byte and its place; the size is checked).
// The wire shape is validated with a JSON schema, then checked for consistency, then its
// signature is verified against the sender's certificate (trust in that certificate is the
// caller's business: see transfer/trust.ts).
import { createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { validate as generatedValidateManifestShape } from './generated/manifest-validate.js';
import { MANIFEST_VERSIONS, type CompiledValidator, type ManifestVersion } from './manifest-schema.js';

const validateManifestShape = generatedValidateManifestShape as CompiledValidator;
import { P2pfxError } from './errors.js';
import type { KeyEnvelope } from './envelope.js';
import { BLOB_OVERHEAD_BYTES } from './limits.js';

/** The version new manifests are written in. */
export const MANIFEST_VERSION = 2;
/** A packed folder's manifest (core/folder-pack.ts): chunks of any size up to the chunk size, indexes unique but not positions. */
export const PACKED_MANIFEST_VERSION = 3;
export { MANIFEST_VERSIONS, manifestSchema, type ManifestVersion } from './manifest-schema.js';
const MAX_NAME_BYTES = 255;

export interface ChunkRef { index: number; id: string; size: number }

export interface SealedMetadata { nonce: string; sealed: string }

/** What the sender knows about the file; sealed with a key derived from the data key. */
export interface FileMetadata {
  name: string;
  size: number;
  mtimeMs: number;
  /**
   * SHA-256 of the whole plaintext: always in v1; in v2 only where the sender hashed the file
   * (folder members, whose index records it). A receiver checks it when present.
   */
  sha256?: string;
  /**
   * 'folder': the file is a folder index (transfer/folder.ts) naming the folder's member files;
   * absent means 'file'. Sealed with the rest, so a storage peer cannot tell folders from files.
   */
  kind?: 'file' | 'folder';
  /** The file is a member of a folder: a receiving node's inbox leaves it to the folder index. */
  inFolder?: boolean;
  /**
   * A packed folder (manifest v3): the bytes of its index, which end the stream of chunks from a
   * chunk boundary. `size` counts the whole stream, index included.
   */
  indexBytes?: number;
  /** A packed folder: how many files and subfolders it holds (for listings; its index is the truth). */
  files?: number;
  dirs?: number;
}

export interface Manifest {
  version: ManifestVersion;
  fileId: string;
  chunkSize: number;
  chunkCount: number;
  totalBytes: number;
  chunks: ChunkRef[];
  envelopes: KeyEnvelope[];
  metadata: SealedMetadata;
  createdAt: string;
  sender: { nodeId: string; certPem: string };
  signature: string;
}

export type UnsignedManifest = Omit<Manifest, 'signature'>;


/** The schema's validator, compiled ahead of time by ajv (scripts/gen-validators.ts): no schema compiler at run time. */
function validateShape(input: unknown): boolean {
  return validateManifestShape(input) && isIsoDate((input as { createdAt: string }).createdAt);
}

function isIsoDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text));
}

/**
 * Checks shape and internal consistency of an untrusted manifest (does not check the
 * signature). Throws BAD_MANIFEST saying what is wrong.
 */
export function parseManifest(input: unknown): Manifest {
  if (!validateShape(input)) {
    const first = validateManifestShape.errors?.[0] ?? { instancePath: '/createdAt', message: 'must be a date-time' };
    const where = first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'unknown';
    throw new P2pfxError('BAD_MANIFEST', `manifest does not match schema v${MANIFEST_VERSIONS.join('/v')}: ${where}`);
  }
  const m = input as unknown as Manifest;
  if (m.chunks.length !== m.chunkCount) throw bad(`chunkCount ${m.chunkCount} but ${m.chunks.length} chunks listed`);
  const seen = new Set<string>();
  let total = 0;
  const fullSize = m.chunkSize + BLOB_OVERHEAD_BYTES;
  const packed = m.version === PACKED_MANIFEST_VERSION;
  const indexes = new Set<number>();
  m.chunks.forEach((c, i) => {
    if (packed) {
      // A packed folder's chunks keep their index (their nonce) across versions of the folder.
      if (indexes.has(c.index)) throw bad(`chunk index ${c.index} is listed twice`);
      indexes.add(c.index);
    } else if (c.index !== i) throw bad(`chunk at position ${i} has index ${c.index}`);
    if (seen.has(c.id)) throw bad(`chunk ${c.id} is listed twice`);
    seen.add(c.id);
    const last = i === m.chunkCount - 1;
    if (packed ? c.size > fullSize : last ? c.size > fullSize : c.size !== fullSize) {
      throw bad(`chunk ${i} has size ${c.size}, expected ${packed || last ? `at most ${fullSize}` : fullSize}`);
    }
    total += c.size;
  });
  if (total !== m.totalBytes) throw bad(`totalBytes ${m.totalBytes} but chunks add up to ${total}`);
  return m;
}

export function signManifest(unsigned: UnsignedManifest, nodeKeyPem: string): Manifest {
  const signature = sign('sha256', Buffer.from(canonicalJson(unsigned)), { key: createPrivateKey(nodeKeyPem), dsaEncoding: 'ieee-p1363' });
  return { ...unsigned, signature: signature.toString('base64') };
}

/** Throws BAD_MANIFEST unless the signature verifies with the public key of `sender.certPem`. */
export function verifyManifestSignature(m: Manifest): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(m.sender.certPem);
  } catch (err) {
    throw new P2pfxError('BAD_MANIFEST', 'manifest sender certificate is unreadable', { cause: err });
  }
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: the sender certificate's key is not ECDSA P-256`);
  }
  const { signature, ...unsigned } = m;
  let ok = false;
  try {
    ok = verify('sha256', Buffer.from(canonicalJson(unsigned)), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: signature does not verify (tampered, or not signed by its sender)`);
}

/** Plaintext byte count of a file with these chunk sizes. */
export function plaintextBytes(m: Pick<Manifest, 'totalBytes' | 'chunkCount'>): number {
  return m.totalBytes - m.chunkCount * BLOB_OVERHEAD_BYTES;
}

function metadataKey(dataKey: Uint8Array, fileId: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, fileId, 'p2pfx/1 metadata', 32));
}

export function sealMetadata(meta: FileMetadata, dataKey: Uint8Array, fileId: Uint8Array): SealedMetadata {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', metadataKey(dataKey, fileId), nonce);
  cipher.setAAD(fileId);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(meta)), cipher.final(), cipher.getAuthTag()]);
  return { nonce: nonce.toString('base64'), sealed: sealed.toString('base64') };
}

/**
 * Opens and checks the metadata block of a manifest of `version`; the name is checked to be a
 * plain file name, and a v1 block must carry the whole-file SHA-256.
 */
export function openMetadata(sealed: SealedMetadata, dataKey: Uint8Array, fileId: Uint8Array, version: ManifestVersion): FileMetadata {
  const bytes = Buffer.from(sealed.sealed, 'base64');
  const nonce = Buffer.from(sealed.nonce, 'base64');
  if (bytes.length < 16 || nonce.length !== 12) throw bad('metadata block is too short');
  const decipher = createDecipheriv('aes-256-gcm', metadataKey(dataKey, fileId), nonce);
  decipher.setAAD(fileId);
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  let meta: unknown;
  try {
    meta = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8'));
  } catch (err) {
    throw new P2pfxError('DECRYPT_FAILED', 'file metadata does not open with this key', { cause: err });
  }
  return checkMetadata(meta, version);
}

function checkMetadata(meta: unknown, version: ManifestVersion): FileMetadata {
  const m = meta as Partial<FileMetadata> | null;
  if (!m || typeof m !== 'object'
    || typeof m.name !== 'string' || !Number.isSafeInteger(m.size) || (m.size as number) < 0
    || typeof m.mtimeMs !== 'number' || !Number.isFinite(m.mtimeMs)) {
    throw bad('metadata block has the wrong shape');
  }
  if (version === 1 && !('sha256' in m)) throw bad('metadata block of a v1 manifest has no SHA-256');
  if ('sha256' in m && (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256))) throw bad('metadata block has a SHA-256 that is not 64 hex digits');
  // The marks are optional: absent stays absent (older senders write neither), present must be right.
  if ('kind' in m && m.kind !== 'file' && m.kind !== 'folder') throw bad('metadata block has a kind that is neither file nor folder');
  if ('inFolder' in m && typeof m.inFolder !== 'boolean') throw bad('metadata block has an inFolder mark that is not a boolean');
  if (version === PACKED_MANIFEST_VERSION) {
    if (m.kind !== 'folder' || !Number.isSafeInteger(m.indexBytes) || (m.indexBytes as number) < 2 || (m.indexBytes as number) > (m.size as number)) {
      throw bad('metadata block of a packed folder has no index size that fits it');
    }
  } else if ('indexBytes' in m) throw bad('metadata block has an index size, yet the manifest is not a packed folder');
  for (const count of ['files', 'dirs'] as const) {
    if (count in m && (m.kind !== 'folder' || !Number.isSafeInteger(m[count]) || (m[count] as number) < 0)) throw bad(`metadata block has a ${count} count that is not a folder's whole number`);
  }
  checkFileName(m.name);
  return {
    name: m.name, size: m.size as number, mtimeMs: m.mtimeMs, ...(m.sha256 !== undefined ? { sha256: m.sha256 } : {}),
    ...('kind' in m ? { kind: m.kind } : {}), ...('inFolder' in m ? { inFolder: m.inFolder } : {}),
    ...(version === PACKED_MANIFEST_VERSION ? { indexBytes: m.indexBytes as number } : {}),
    ...('files' in m ? { files: m.files as number } : {}), ...('dirs' in m ? { dirs: m.dirs as number } : {}),
  };
}

/**
 * A received name must be one plain path component: no separators, no control characters, and
 * none of the bidirectional overrides or line separators that make a name display as another
 * (`evil\u202Efdp.exe` shows as `evilexe.pdf`).
 */
export function checkFileName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name === '' || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(name)
    || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw bad(`unsafe file name ${JSON.stringify(name)}`);
  }
}

function bad(message: string): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', message);
}
