// The peers a command talks to: what the user typed after --peer (an address, or a name or node
// id from the peer book), or, without --peer, every peer in the book. A peer enters the book
// only once a mutual-TLS handshake has shown its node id (DESIGN "Trust", discovery).
import { isIP } from 'node:net';
import { P2pfxError } from '../core/errors.js';
import { isNodeName } from '../core/ids.js';
import { normalizeNodeId } from '../pki/node-id.js';
import type { BookPeer } from '../store/index-db.js';
import type { LocalNode } from '../store/local-node.js';
import { PeerClient, type PeerClientOptions } from './client.js';
import type { HelloReply } from './protocol/peers.js';
import { formatPeer, parsePeer, type PeerAddress } from './peer-address.js';

export interface PeerTarget {
  address: PeerAddress;
  /** The node id the book knows at that address: the handshake must show it. */
  nodeId: string | null;
  /** The book's name for it, when it comes from the book. */
  name: string | null;
}

/**
 * Resolves each --peer value: a node id or a name from the book, else HOST[:PORT]. With no value,
 * the whole book. Throws INVALID_PEER (unknown id, bad address, empty book), AMBIGUOUS_NAME.
 */
export function resolvePeers(node: LocalNode, values: readonly string[] | undefined): PeerTarget[] {
  const book = node.db.listPeers();
  if (values === undefined || values.length === 0) {
    if (book.length === 0) {
      throw new P2pfxError('INVALID_PEER', 'no --peer given and the peer book is empty', {
        hint: 'Name a peer with --peer HOST[:PORT], or fill the book: `p2pfx peers add HOST[:PORT]` or `p2pfx peers discover`.',
      });
    }
    return book.map(fromBook);
  }
  const seen = new Set<string>();
  const targets: PeerTarget[] = [];
  for (const value of values) {
    const t = resolveOne(book, value);
    const key = t.nodeId ?? formatPeer(t.address);
    if (!seen.has(key)) targets.push(t);
    seen.add(key);
  }
  return targets;
}

function resolveOne(book: BookPeer[], value: string): PeerTarget {
  let id: string | null = null;
  try {
    id = normalizeNodeId(value);
  } catch {
    // not a node id
  }
  if (id !== null) {
    const p = book.find((b) => b.nodeId === id);
    if (!p) throw new P2pfxError('INVALID_PEER', `no peer with node id ${id} in the peer book`, { hint: 'Add it with `p2pfx peers add HOST[:PORT]`, or give its address.' });
    return fromBook(p);
  }
  const named = book.filter((b) => b.name === value);
  if (named.length === 1) return fromBook(named[0]!);
  if (named.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${named.length} peers in the book are named ${JSON.stringify(value)}: ${named.map((p) => p.nodeId).join(', ')}`, { hint: 'Use the node id of the one you mean.' });
  }
  return { address: parsePeer(value), nodeId: null, name: null };
}

function fromBook(p: BookPeer): PeerTarget {
  const a = p.addresses[0];
  if (!a) throw new P2pfxError('INVALID_PEER', `peer ${p.name} (${p.nodeId}) has no known address`);
  return { address: { host: a.host, port: a.port }, nodeId: p.nodeId, name: p.name };
}

/** How long a peer may stay silent (connecting, or while answering) before PEER_TIMEOUT. */
export const PEER_TIMEOUT_ENV = 'P2PFX_PEER_TIMEOUT_MS';

/**
 * Client timeouts from $P2PFX_PEER_TIMEOUT_MS (connect and idle alike); none set: the client's
 * defaults (10 s, 30 s). Read here, where every client of the CLI, the menu and the UI is made.
 */
export function peerTimeouts(env: NodeJS.ProcessEnv = process.env): PeerClientOptions {
  const text = env[PEER_TIMEOUT_ENV];
  if (text === undefined || text === '') return {};
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 100 || ms > 3_600_000) {
    throw new P2pfxError('INVALID_ARGUMENT', `$${PEER_TIMEOUT_ENV} must be a whole number of milliseconds from 100 to 3600000, got ${JSON.stringify(text)}`);
  }
  return { connectTimeoutMs: ms, idleTimeoutMs: ms };
}

/**
 * A client for a target, bound to the node id the book expects there (if any), with the
 * timeouts of $P2PFX_PEER_TIMEOUT_MS unless `opts` sets its own (a quick reachability check).
 */
export function clientFor(node: LocalNode, target: PeerTarget, opts: PeerClientOptions = {}): PeerClient {
  const unknownName = target.nodeId === null && isIP(target.address.host) === 0;
  return new PeerClient(target.address, node.creds, { revocation: node.revocation, ...(target.nodeId ? { expectNodeId: target.nodeId } : {}), ...(unknownName ? { unknownName } : {}), ...peerTimeouts(), ...opts });
}

/**
 * Connects to host:port, lets the handshake show who answers, and records it in the book.
 * With `expectNodeId`, a different node there is refused (PEER_MISMATCH), and nothing recorded.
 */
export async function confirmPeer(node: LocalNode, address: PeerAddress, opts: { expectNodeId?: string; source: BookPeer['source']; timeoutMs?: number }): Promise<BookPeer> {
  const client = new PeerClient(address, node.creds, {
    revocation: node.revocation, connections: 1,
    ...(opts.expectNodeId ? { expectNodeId: opts.expectNodeId } : {}),
    ...(opts.timeoutMs ? { connectTimeoutMs: opts.timeoutMs, idleTimeoutMs: opts.timeoutMs } : {}),
  });
  try {
    const health = await client.health();
    const nodeId = client.nodeId;
    if (nodeId === null || health.nodeId !== nodeId) {
      throw new P2pfxError('PEER_ERROR', `peer ${client.label} claims node id ${String(health.nodeId)} but its certificate says ${nodeId ?? 'nothing'}`);
    }
    if (nodeId === node.creds.nodeId) throw new P2pfxError('INVALID_PEER', `${client.label} is this node itself`);
    const name = isNodeName(health.name) ? health.name : 'node';
    return node.db.notePeer({ nodeId, name, host: address.host, port: address.port, source: opts.source });
  } finally {
    await client.close();
  }
}

/**
 * Tells the peer at `target` (dialled expecting its book id, if any) that this node serves on
 * `port`: the peer records this node in its book, at the address this connection comes from.
 */
export async function sayHello(node: LocalNode, target: PeerTarget, port: number, opts: PeerClientOptions = {}): Promise<HelloReply> {
  const client = clientFor(node, target, { connections: 1, ...opts });
  try {
    return await client.hello(helloBody(node, port));
  } finally {
    await client.close();
  }
}

/** What this node says in a hello: its name (as its certificate has it) and the port of its API. */
export function helloBody(node: LocalNode, port: number): { name: string; port: number } {
  return { name: isNodeName(node.creds.name) ? node.creds.name : 'node', port };
}
