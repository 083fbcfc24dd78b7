// Chunks one at a time (DESIGN "REST API v1"): PUT, GET and HEAD /v1/chunks/:id, which chunks a
// node lacks (POST /v1/chunks/missing), a page of those it holds (GET /v1/chunks). Many chunks at
// once go over a bulk stream (bulk.ts).
import type { FromSchema } from 'json-schema-to-ts';
import { MAX_MISSING_IDS, MAX_PAGE } from '../../core/limits.js';
import { CHUNK_ID, replyCheck } from './common.js';
import { validate as validateChunkList } from './generated/chunk-list-reply-validate.js';
import { validate as validateChunkPut } from './generated/chunk-put-reply-validate.js';
import { validate as validateMissing } from './generated/missing-reply-validate.js';

export const CHUNKS_PATH = '/v1/chunks';
export const CHUNK_ROUTE = '/v1/chunks/:id';
export const MISSING_PATH = '/v1/chunks/missing';
export const CHUNK_TYPE = 'application/octet-stream';
/** Chunks in a page when the request does not say. */
export const DEFAULT_PAGE = 1000;

export function chunkPath(id: string): string {
  return `${CHUNKS_PATH}/${id}`;
}

export const chunkParams = { type: 'object', required: ['id'], properties: { id: CHUNK_ID } } as const;

export const missingRequest = { type: 'object', required: ['ids'], additionalProperties: false, properties: { ids: { type: 'array', maxItems: MAX_MISSING_IDS, items: CHUNK_ID } } } as const;
export type MissingRequest = FromSchema<typeof missingRequest>;

export const chunkListQuery = { type: 'object', additionalProperties: false, properties: { after: { type: 'string', pattern: '^[0-9a-f]{0,64}$' }, limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE } } } as const;
export type ChunkListQuery = FromSchema<typeof chunkListQuery>;

export const missingReply = {
  type: 'object',
  required: ['missing'],
  properties: { missing: { type: 'array', maxItems: MAX_MISSING_IDS, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
} as const;
export type MissingReply = FromSchema<typeof missingReply>;
export const MISSING = replyCheck<MissingReply>('the missing chunks', validateMissing);

export const chunkPutReply = {
  type: 'object',
  required: ['created'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' }, created: { type: 'boolean' }, size: { type: 'integer', minimum: 0 } },
} as const;
export type ChunkPutReply = FromSchema<typeof chunkPutReply>;
export const CHUNK_PUT = replyCheck<ChunkPutReply>('a chunk stored', validateChunkPut);

export const chunkListReply = {
  type: 'object',
  required: ['chunks', 'next'],
  properties: {
    chunks: { type: 'array', maxItems: MAX_PAGE, items: { type: 'object', required: ['id', 'size'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' }, size: { type: 'integer', minimum: 0 } } } },
    next: { type: ['string', 'null'], maxLength: 64 },
  },
} as const;
export type ChunkListReply = FromSchema<typeof chunkListReply>;
export const CHUNK_LIST = replyCheck<ChunkListReply>('its chunk list', validateChunkList);
