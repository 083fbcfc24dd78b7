// Who a node is and whether it is up (DESIGN "REST API v1"): GET /v1/health, GET /v1/identity.
import type { FromSchema } from 'json-schema-to-ts';
import { NAME, NODE_ID, replyCheck } from './common.js';
import { validate as validateHealth } from './generated/health-reply-validate.js';
import { validate as validateIdentity } from './generated/identity-reply-validate.js';

export const HEALTH_PATH = '/v1/health';
export const IDENTITY_PATH = '/v1/identity';

export const healthReply = {
  type: 'object',
  required: ['status', 'version', 'nodeId', 'name', 'chunks'],
  properties: { status: { type: 'string', maxLength: 64 }, version: { type: 'string', maxLength: 64 }, nodeId: NODE_ID, name: NAME, chunks: { type: 'integer', minimum: 0 } },
} as const;
export type HealthReply = FromSchema<typeof healthReply>;
export const HEALTH = replyCheck<HealthReply>('its health', validateHealth);

export const identityReply = {
  type: 'object',
  required: ['nodeId', 'name', 'x25519', 'apiVersion'],
  properties: { nodeId: NODE_ID, name: NAME, x25519: { type: 'string', maxLength: 256, description: 'base64 raw X25519 public key' }, apiVersion: { type: 'integer', minimum: 1 } },
} as const;
export type IdentityReply = FromSchema<typeof identityReply>;
export const IDENTITY = replyCheck<IdentityReply>('its identity', validateIdentity);
