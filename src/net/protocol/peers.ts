// Peers telling each other where they serve (DESIGN "Trust" → "Join closes its loop"):
// POST /v1/peers/hello. The caller says its name and the port of its API; the node records it in
// its peer book under the node id of the caller's client certificate, at the address the
// connection comes from. A member can only ever record itself.
import type { FromSchema } from 'json-schema-to-ts';
import { NODE_NAME_RE } from '../../core/ids.js';
import { NODE_ID, replyCheck } from './common.js';
import { validate as validateHelloReply } from './generated/hello-reply-validate.js';
import { validate as validateHelloRequest } from './generated/hello-request-validate.js';

export const HELLO_PATH = '/v1/peers/hello';

const PORT = { type: 'integer', minimum: 1, maximum: 65535 } as const;

export const helloRequest = {
  type: 'object',
  required: ['name', 'port'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: NODE_NAME_RE.source, description: 'the caller\'s node name: 1 to 64 of A-Z a-z 0-9 . _ -' },
    port: { ...PORT, description: 'the port the caller\'s API serves on (or will)' },
  },
} as const;
export type HelloRequest = FromSchema<typeof helloRequest>;
/** Checks a hello's body on the server (no type coercion: `"port": true` is not port 1). */
export const HELLO_REQUEST = replyCheck<HelloRequest>('a hello', validateHelloRequest);

export const helloReply = {
  type: 'object',
  required: ['nodeId', 'name', 'host', 'port'],
  properties: {
    nodeId: { ...NODE_ID, description: 'the caller, as its client certificate says' },
    name: { type: 'string', maxLength: 64 },
    host: { type: 'string', maxLength: 64, description: 'the caller\'s address, as the connection shows it' },
    port: PORT,
  },
} as const;
export type HelloReply = FromSchema<typeof helloReply>;
export const HELLO = replyCheck<HelloReply>('what it recorded of this node', validateHelloReply);
