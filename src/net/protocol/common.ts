// What every message family of the node API shares (DESIGN "REST API v1"): the version, ids as
// schemas, the error body, and how a peer's reply is checked. Each family has its own file
// beside this one (identity, chunks, bulk, manifests, crl; enrollment and discovery for the two
// other listeners): paths, headers, request and reply schemas, and their TypeScript types. The
// server describes its routes (and so the OpenAPI page) with these schemas; the client checks
// every JSON reply with their validators, compiled ahead of time into generated/
// (scripts/gen-validators.ts); their TypeScript types are derived from the schemas
// (json-schema-to-ts, types only). Replies allow extra properties (a newer peer may say more); the
// ones read must be there, of the right type.
import type { CompiledValidator } from '../../core/manifest-schema.js';

/** The version of the node API, in every path (/v1/…) and in /v1/identity. */
export const API_VERSION = 1;

export const CHUNK_ID = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'lowercase hex SHA-256 of the blob' } as const;
export const FILE_ID = { type: 'string', pattern: '^[0-9a-f]{32}$' } as const;
export const NODE_ID = { type: 'string', maxLength: 80 } as const;
export const NAME = { type: 'string', maxLength: 256 } as const;

/** Every refusal: `{error: {code, message}}`, the code one of docs/errors.md. */
export const ERROR_BODY = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

/** A reply's checker: the schema's generated validator, and what the reply is called in messages. */
export interface ReplyCheck<T> { what: string; validate: CompiledValidator; _type?: T }

/** The checker of a reply of type T. */
export function replyCheck<T>(what: string, validate: unknown): ReplyCheck<T> {
  return { what, validate: validate as CompiledValidator };
}

/** Where a value fails its check, as a short phrase ("/chunks/0/id must match pattern …"). */
export function firstFault(validate: CompiledValidator): string {
  const first = validate.errors?.[0];
  return first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'unknown';
}
