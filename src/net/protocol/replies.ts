// The JSON replies of the node API (DESIGN "Wire"): one schema each, used by the server to
// describe its routes (and the OpenAPI page) and, compiled ahead of time into
// net/protocol/generated/ (scripts/gen-validators.ts), by the client to check what a peer answers:
// a reply of the wrong shape is PEER_ERROR, never a value cast and trusted. Extra properties are
// allowed (a newer peer may say more); the ones read must be there, of the right type.

import { MAX_MISSING_IDS, MAX_PAGE } from '../../core/limits.js';
import type { CompiledValidator } from '../../core/manifest-schema.js';
import { validate as chunkPut } from './generated/chunk-put-reply-validate.js';
import { validate as health } from './generated/health-reply-validate.js';
import { validate as identity } from './generated/identity-reply-validate.js';
import { validate as missing } from './generated/missing-reply-validate.js';
import { validate as chunkList } from './generated/chunk-list-reply-validate.js';
import { validate as manifestPut } from './generated/manifest-put-reply-validate.js';

const NODE_ID = { type: 'string', maxLength: 80 } as const;
const NAME = { type: 'string', maxLength: 256 } as const;

export const healthReply = {
  type: 'object',
  required: ['status', 'version', 'nodeId', 'name', 'chunks'],
  properties: { status: { type: 'string', maxLength: 64 }, version: { type: 'string', maxLength: 64 }, nodeId: NODE_ID, name: NAME, chunks: { type: 'integer', minimum: 0 } },
} as const;
export interface HealthReply { status: string; version: string; nodeId: string; name: string; chunks: number }

export const identityReply = {
  type: 'object',
  required: ['nodeId', 'name', 'x25519', 'apiVersion'],
  properties: { nodeId: NODE_ID, name: NAME, x25519: { type: 'string', maxLength: 256, description: 'base64 raw X25519 public key' }, apiVersion: { type: 'integer', minimum: 1 } },
} as const;
export interface IdentityReply { nodeId: string; name: string; x25519: string; apiVersion: number }

export const missingReply = {
  type: 'object',
  required: ['missing'],
  properties: { missing: { type: 'array', maxItems: MAX_MISSING_IDS, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
} as const;
export interface MissingReply { missing: string[] }

export const chunkPutReply = {
  type: 'object',
  required: ['created'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' }, created: { type: 'boolean' }, size: { type: 'integer', minimum: 0 } },
} as const;
export interface ChunkPutReply { id?: string; created: boolean; size?: number }

export const chunkListReply = {
  type: 'object',
  required: ['chunks', 'next'],
  properties: {
    chunks: { type: 'array', maxItems: MAX_PAGE, items: { type: 'object', required: ['id', 'size'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' }, size: { type: 'integer', minimum: 0 } } } },
    next: { type: ['string', 'null'], maxLength: 64 },
  },
} as const;
export interface ChunkListReply { chunks: Array<{ id: string; size: number }>; next: string | null }

export const manifestPutReply = {
  type: 'object',
  required: ['created', 'outcome'],
  properties: { fileId: { type: 'string', pattern: '^[0-9a-f]{32}$' }, created: { type: 'boolean' }, outcome: { enum: ['created', 'updated', 'kept'] } },
} as const;
export interface ManifestPutReply { fileId?: string; created: boolean; outcome: 'created' | 'updated' | 'kept' }

/** A reply's checker: the schema's generated validator, and what the reply is called in messages. */
export interface ReplyCheck<T> { what: string; validate: CompiledValidator; _type?: T }

export const REPLIES = {
  health: { what: 'its health', validate: health as CompiledValidator } as ReplyCheck<HealthReply>,
  identity: { what: 'its identity', validate: identity as CompiledValidator } as ReplyCheck<IdentityReply>,
  missing: { what: 'the missing chunks', validate: missing as CompiledValidator } as ReplyCheck<MissingReply>,
  chunkPut: { what: 'a chunk stored', validate: chunkPut as CompiledValidator } as ReplyCheck<ChunkPutReply>,
  chunkList: { what: 'its chunk list', validate: chunkList as CompiledValidator } as ReplyCheck<ChunkListReply>,
  manifestPut: { what: 'a manifest stored', validate: manifestPut as CompiledValidator } as ReplyCheck<ManifestPutReply>,
};
