// The catalog (DESIGN "REST API v1"): PUT /v1/manifests/:fileId stores a signed manifest,
// GET /v1/manifests lists them without their chunk lists, GET /v1/manifests/:fileId gives one.
// A manifest's own schema is core/manifest-schema.ts: the route shows it, and checkManifest
// (pki/manifest-trust.ts) checks a body with its generated validator, then its signature.
import type { FromSchema } from 'json-schema-to-ts';
import { manifestSchema } from '../../core/manifest-schema.js';
import { FILE_ID, replyCheck } from './common.js';
import { validate as validateCatalog } from './generated/catalog-reply-validate.js';
import { validate as validateManifestPut } from './generated/manifest-put-reply-validate.js';

export const MANIFESTS_PATH = '/v1/manifests';
export const MANIFEST_ROUTE = '/v1/manifests/:fileId';

export function manifestPath(fileId: string): string {
  return `${MANIFESTS_PATH}/${fileId}`;
}

/** A signed manifest (core/manifest-schema.ts), as the body of PUT /v1/manifests/:fileId. */
export const manifestBody = (({ $id: _id, ...rest }) => ({ ...rest, description: 'a signed manifest (DESIGN "Formats")' }))(manifestSchema);

export const fileIdParams = { type: 'object', required: ['fileId'], properties: { fileId: FILE_ID } } as const;

export const manifestPutReply = {
  type: 'object',
  required: ['created', 'outcome'],
  properties: { fileId: { type: 'string', pattern: '^[0-9a-f]{32}$' }, created: { type: 'boolean' }, outcome: { enum: ['created', 'updated', 'kept'] } },
} as const;
export type ManifestPutReply = FromSchema<typeof manifestPutReply>;
export const MANIFEST_PUT = replyCheck<ManifestPutReply>('a manifest stored', validateManifestPut);

/** The catalog's envelope; each entry is a manifest without its chunks, checked on its own by the caller (signature included). */
export const catalogReply = {
  type: 'object',
  required: ['manifests'],
  properties: { manifests: { type: 'array', items: { type: 'object', additionalProperties: true } } }, // bounded by the reply's size cap
} as const;
export type CatalogReply = FromSchema<typeof catalogReply>;
export const CATALOG = replyCheck<CatalogReply>('its catalog', validateCatalog);
