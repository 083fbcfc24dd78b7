// The LAN discovery packets (DESIGN "Discovery"): where they go, what they say, and the one
// parser of what arrives. net/discovery.ts sends and hears them.
import { P2pfxError } from '../../core/errors.js';
import { isNodeName } from '../../core/ids.js';
import { normalizeNodeId } from '../../pki/node-id.js';

/** IPv4 Local Scope (RFC 2365, 239.255.0.0/16): routers at a site's edge do not forward it. */
export const DISCOVERY_GROUP = '239.255.42.99';
export const DISCOVERY_PORT = 21112;
/** Larger packets are dropped unread; an announcement is about 150 bytes. */
export const MAX_PACKET_BYTES = 512;
const APP = 'p2pfx';
const PROTOCOL_VERSION = 1;

/** What a node says about itself. */
export interface Announcement { nodeId: string; name: string; port: number }

/**
 * A packet as understood. On the wire (JSON, at most MAX_PACKET_BYTES):
 * - announcement `{ app: 'p2pfx', v: 1, nodeId, name, port }`, with `query: true` when the sender
 *   also asks the others to announce (a node does so when it starts);
 * - query `{ app: 'p2pfx', v: 1, query: true }`, with `nodeId` when the asker has one (so that its
 *   own node, which ignores its own id, does not answer).
 * Fields not listed are ignored (room for later versions), so a `host` in a packet changes nothing.
 */
export type DiscoveryPacket =
  | { kind: 'announce'; nodeId: string; name: string; port: number; query: boolean }
  | { kind: 'query'; nodeId: string | null };

/** The announcement of a node, as sent. Throws INVALID_ARGUMENT on fields no peer would take. */
export function encodeAnnouncement(a: Announcement, opts: { query?: boolean } = {}): Buffer {
  const { nodeId, name, port } = checkAnnouncement(a);
  return Buffer.from(JSON.stringify({ app: APP, v: PROTOCOL_VERSION, nodeId, name, port, ...(opts.query ? { query: true } : {}) }));
}

/** A query, with the asker's node id when it has one. */
export function encodeQuery(nodeId?: string | null): Buffer {
  const id = nodeId == null ? null : checkNodeIdOption(nodeId);
  return Buffer.from(JSON.stringify({ app: APP, v: PROTOCOL_VERSION, query: true, ...(id ? { nodeId: id } : {}) }));
}

/**
 * A received datagram as a packet, or null for anything else: too large, not JSON, not an
 * object, another app or version, a node id that fails its check characters, a name outside the
 * node-name rule, a port outside 1..65535. Never throws. Node ids come back in canonical form.
 */
export function parsePacket(data: Uint8Array): DiscoveryPacket | null {
  if (data.length === 0 || data.length > MAX_PACKET_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const p = value as Record<string, unknown>;
  if (p.app !== APP || p.v !== PROTOCOL_VERSION) return null;
  if (p.query !== undefined && typeof p.query !== 'boolean') return null;
  const query = p.query === true;
  const announces = p.name !== undefined || p.port !== undefined;
  let nodeId: string | null = null;
  if (p.nodeId !== undefined) {
    nodeId = validNodeId(p.nodeId);
    if (nodeId === null) return null;
  }
  if (!announces) return query ? { kind: 'query', nodeId } : null;
  if (nodeId === null || !isNodeName(p.name) || !isPort(p.port)) return null;
  return { kind: 'announce', nodeId, name: p.name, port: p.port, query };
}

export function checkAnnouncement(a: Announcement): Announcement {
  const nodeId = checkNodeIdOption(a.nodeId);
  if (!isNodeName(a.name)) throw new P2pfxError('INVALID_ARGUMENT', `discovery: node name ${JSON.stringify(a.name)} must be 1 to 64 of A-Z a-z 0-9 . _ -`);
  if (!isPort(a.port)) throw new P2pfxError('INVALID_ARGUMENT', `discovery: port must be 1..65535, got ${String(a.port)}`);
  return { nodeId, name: a.name, port: a.port };
}

export function checkNodeIdOption(nodeId: string): string {
  return normalizeNodeId(String(nodeId)); // throws INVALID_ARGUMENT, saying what is wrong
}

function validNodeId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    return normalizeNodeId(value);
  } catch {
    return null;
  }
}


export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

