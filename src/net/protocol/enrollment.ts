// Enrollment's protocol (DESIGN "Trust"): what `p2pfx invite`'s listener (net/enroll.ts) and
// `p2pfx join` (net/join.ts) share — the ports, paths and limits, the join key derived from the
// invite code and the TLS session, the MACs, the proof of possession of the joiner's key.
//
// Neither side can authenticate the other by certificate yet (the joiner has none and does not
// know the CA), so the TLS session is authenticated by the invite code instead: both ends derive
// K = HKDF(codeKey, salt = the session's TLS exporter) and MAC what they send with it. Only a
// holder of the code key can MAC, and only for this very TLS session: a machine in the middle
// holds two sessions with two exporters, and cannot turn a MAC made for one into one for the other.
import type { FromSchema } from 'json-schema-to-ts';
import { createHmac, createPublicKey, hkdfSync, timingSafeEqual, verify } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { canonicalJson } from '../../core/canonical-json.js';
import type { ErrorCode } from '../../core/errors.js';
import { DEFAULT_PORT, KiB, MiB } from '../../core/limits.js';
import { replyCheck } from './common.js';
import { validate as validateJoinResponse } from './generated/join-response-validate.js';

/** Where `invite` listens and `join HOST` connects: next to the node's API port. */
export const ENROLL_PORT = DEFAULT_PORT + 1;
export const DEFAULT_INVITE_TTL_MS = 10 * 60 * 1000;
export const JOIN_PROTOCOL_VERSION = 1;
export const JOIN_PATH = '/v1/join';
/**
 * Wrong codes (no invite matched) the listener tries from one source (address, IPv6 /64) per
 * RATE_WINDOW_MS (sliding); past that it answers 429 to that source's joins, unheard.
 */
export const MAX_FAILED_JOINS = 10;
export const RATE_WINDOW_MS = 60 * 1000;
/** What one source may hold and ask of the listener (a joiner needs one connection and one request). */
export const ENROLL_SOURCE_BOUNDS = { connections: 8, requestsPerMinute: 30 } as const;
/** Connections the listener holds in all (many sources at once are still a bounded cost). */
export const ENROLL_MAX_CONNECTIONS = 256;

const EXPORTER_LABEL = 'EXPORTER-p2pfx-join';
const EXPORTER_BYTES = 32;
const HKDF_INFO = 'p2pfx join v1';
const JOIN_KEY_BYTES = 32;
export const DEFAULT_JOIN_TIMEOUT_MS = 30_000;
export const REQUEST_BODY_LIMIT = 16 * KiB;
/** Certificates and a CRL; a CRL of some thousand entries stays far below this. */
export const RESPONSE_BODY_LIMIT = 4 * MiB;
export const SERVER_TIMEOUT_MS = 15_000;
export const MAX_PEER_MESSAGE_CHARS = 300;
export const MAC_B64 = '^[A-Za-z0-9+/]{43}=$'; // 32 bytes

/** Codes the enrollment listener answers with; anything else from a peer is reported as PEER_ERROR. */
export const LISTENER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVITE_REFUSED', 'INVITE_EXPIRED', 'INVITE_USED', 'JOIN_RATE_LIMITED', 'RATE_LIMITED', 'INVALID_ARGUMENT',
  'BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NOT_FOUND',
]);

// --- the protocol's keys and MACs ---------------------------------------------------------------

export type MacLabel = 'join-request' | 'join-response';

/** The TLS 1.3 exporter (RFC 8446 7.5) of this session, the same on both of its ends. */
export function sessionExporter(socket: TLSSocket): Buffer {
  return socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0));
}

/** K = HKDF-SHA256(ikm = code key, salt = exporter, info = 'p2pfx join v1'). */
export function joinKey(codeKey: Uint8Array, exporter: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', codeKey, exporter, HKDF_INFO, JOIN_KEY_BYTES));
}

/** base64 HMAC-SHA256(K, label + '\n' + canonical JSON of the fields). */
export function joinMac(key: Uint8Array, label: MacLabel, fields: object): string {
  return createHmac('sha256', key).update(`${label}\n${canonicalJson(fields)}`).digest('base64');
}

export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'base64');
  const y = Buffer.from(b, 'base64');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** What the joiner signs with its new key: proof it holds it, bound to this session. */
export function popMessage(exporter: Buffer): Buffer {
  return Buffer.concat([Buffer.from('p2pfx-join-pop\n'), exporter]);
}

export function provesPossession(spkiDer: Buffer, exporter: Buffer, pop: string): boolean {
  try {
    return verify('sha256', popMessage(exporter), createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }), Buffer.from(pop, 'base64'));
  } catch {
    return false;
  }
}

/** The body of POST /v1/join: the fields, the proof of possession, the MAC (which covers the body as sent: no coercion, no stripping). */
export const joinRequest = {
  type: 'object',
  required: ['version', 'name', 'publicKey', 'ips', 'pop', 'mac'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', enum: [JOIN_PROTOCOL_VERSION] },
    name: { type: 'string', maxLength: 64 },
    publicKey: { type: 'string', maxLength: 1024, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
    pop: { type: 'string', maxLength: 256, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
    ips: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
    mac: { type: 'string', pattern: MAC_B64 },
  },
} as const;
export type JoinRequest = FromSchema<typeof joinRequest>;

/** The answer's fields, once its MAC has checked (join.ts): what a joiner reads from it. */
export const joinResponse = {
  type: 'object',
  required: ['certPem', 'caCertPem', 'crlPem', 'caNodeId'],
  properties: {
    certPem: { type: 'string', maxLength: 64 * 1024 },
    caCertPem: { type: 'string', maxLength: 64 * 1024 },
    crlPem: { type: ['string', 'null'], maxLength: RESPONSE_BODY_LIMIT },
    caNodeId: { type: 'string', maxLength: 80 },
    /** The port of the CA node's API, where it serves while inviting (absent: not known to the listener). */
    caPort: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const;
export const JOIN_RESPONSE = replyCheck<JoinResponseFields>('the join answer', validateJoinResponse);

/** What the request's MAC covers: the body without pop and mac (publicKey: base64 DER SPKI of the joiner's fresh ECDSA P-256 key). */
export type JoinRequestFields = Omit<JoinRequest, 'pop' | 'mac'>;

/** The answer without its MAC (caNodeId: the node id of the CA node's own certificate, the one its enrollment listener serves). */
export type JoinResponseFields = FromSchema<typeof joinResponse>;

// --- invites --------------------------------------------------------------------------------------

