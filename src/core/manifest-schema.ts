// The JSON schema of a manifest (DESIGN "Formats > Manifest"), as data: core/manifest.ts checks
// manifests with a validator compiled from it ahead of time (scripts/gen-validators.ts writes
// core/generated/manifest-validate.ts; a test keeps the two equal).
import { BLOB_OVERHEAD_BYTES, MAX_BLOB_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from './limits.js';

/** What ajv's generated validators are (core/generated/*.ts carry no types of their own). */
export type CompiledValidator = ((data: unknown) => boolean) & { errors?: ReadonlyArray<{ instancePath: string; message?: string }> | null };

/** Versions a receiver reads. */
/** Versions a receiver reads: 1 and 2 for files (2 without the whole-file hash), 3 for a packed folder. */
export const MANIFEST_VERSIONS = [1, 2, 3] as const;
export type ManifestVersion = (typeof MANIFEST_VERSIONS)[number];
const MAX_METADATA_B64 = 8192;
const MAX_ENVELOPES = 64;

const b64 = { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 4096 } as const;
const envelopeSchema = {
  oneOf: [
    {
      type: 'object', additionalProperties: false,
      required: ['type', 'kdf', 'N', 'r', 'p', 'salt', 'nonce', 'wrapped'],
      properties: {
        type: { const: 'password' }, kdf: { const: 'scrypt' },
        N: { type: 'integer', minimum: 1024, maximum: 1 << 20 }, r: { type: 'integer', minimum: 1, maximum: 16 },
        p: { type: 'integer', minimum: 1, maximum: 4 }, salt: b64, nonce: b64, wrapped: b64,
      },
    },
    {
      type: 'object', additionalProperties: false,
      required: ['type', 'recipient', 'ephemeral', 'nonce', 'wrapped'],
      properties: {
        type: { const: 'x25519' }, recipient: { type: 'string', maxLength: 128 },
        ephemeral: b64, nonce: b64, wrapped: b64,
      },
    },
  ],
} as const;

export const manifestSchema = {
  $id: 'p2pfx/manifest/1',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'fileId', 'chunkSize', 'chunkCount', 'totalBytes', 'chunks', 'envelopes', 'metadata', 'createdAt', 'sender', 'signature'],
  properties: {
    version: { enum: MANIFEST_VERSIONS },
    fileId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    chunkSize: { type: 'integer', minimum: MIN_CHUNK_BYTES, maximum: MAX_CHUNK_BYTES },
    chunkCount: { type: 'integer', minimum: 1, maximum: 0xffffffff },
    totalBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    chunks: {
      type: 'array',
      maxItems: 4_000_000,
      items: {
        type: 'object', additionalProperties: false, required: ['index', 'id', 'size'],
        properties: {
          index: { type: 'integer', minimum: 0, maximum: 0xfffffffe },
          id: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          size: { type: 'integer', minimum: BLOB_OVERHEAD_BYTES, maximum: MAX_BLOB_BYTES },
        },
      },
    },
    envelopes: { type: 'array', minItems: 1, maxItems: MAX_ENVELOPES, items: envelopeSchema },
    metadata: {
      type: 'object', additionalProperties: false, required: ['nonce', 'sealed'],
      properties: { nonce: b64, sealed: { ...b64, maxLength: MAX_METADATA_B64 } },
    },
    // An ISO 8601 date-time: the shape here, that it is a real date in core/manifest.ts.
    createdAt: { type: 'string', maxLength: 40, pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$' },
    sender: {
      type: 'object', additionalProperties: false, required: ['nodeId', 'certPem'],
      properties: { nodeId: { type: 'string', maxLength: 128 }, certPem: { type: 'string', maxLength: 16384 } },
    },
    signature: b64,
  },
} as const;
