// LAN discovery: nodes announce their node id, name and API port by UDP multicast and listen for
// each other's announcements. An announcement is a hint, never a credential: anyone on the LAN can
// send one, under any node id, from any address. It only says where a node might dial; a peer is
// trusted once an mTLS handshake with it succeeds and the session's certificate carries the node id
// that was announced (DESIGN.md, "Trust" → "Discovery").
//
// Plain node:dgram rather than mDNS/DNS-SD: the packet is ours (one small JSON object, checked
// field by field), there is no dependency, and nothing here needs to interoperate with other
// software's service browsers. The packets are net/protocol/discovery.ts; the socket that sends
// and hears them is net/discovery-beacon.ts; here, the two ways a node uses it.
import { isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { P2pfxError } from '../core/errors.js';
import { Beacon, DiscoveryError, multicastInterfaces, QUERY_ANSWER_GAP_MS, type BeaconConfig, type DiscoveryStage, type Hint } from './discovery-beacon.js';

import { DISCOVERY_GROUP, DISCOVERY_PORT, checkAnnouncement, checkNodeIdOption, isPort, type Announcement } from './protocol/discovery.js';

export { DiscoveryError, multicastInterfaces, QUERY_ANSWER_GAP_MS, type DiscoveryStage, type Hint };

export const DEFAULT_ANNOUNCE_INTERVAL_MS = 5_000;
/** How often listenForHints repeats its query (a lost packet costs a second, not the whole wait). */
export const QUERY_REPEAT_MS = 1_000;
const MIN_INTERVAL_MS = 50;

/** Where and how to listen and send; the defaults are the real ones, tests override them. */
export interface DiscoveryNetOptions {
  /** IPv4 multicast group; DISCOVERY_GROUP by default. */
  group?: string;
  /** UDP port, the same on every node; DISCOVERY_PORT by default. */
  udpPort?: number;
  /** Join and send on this IPv4 address's interface only; by default every IPv4 interface with MULTICAST. */
  interfaceAddress?: string;
  /** Problems binding, joining or sending; each distinct one is reported once until it clears. */
  onError?: (err: DiscoveryError) => void;
}

export interface DiscoveryOptions extends DiscoveryNetOptions, Announcement {
  /** Between announcements (± 20 %); DEFAULT_ANNOUNCE_INTERVAL_MS by default. */
  intervalMs?: number;
  /** Every announcement heard from another node, one call per packet (dedupe by the caller). */
  onHint: (hint: Hint) => void;
}

export interface Discovery {
  /** Stops the timers, leaves the group, releases the socket. */
  close(): Promise<void>;
  /** Sends an announcement now (e.g. after the node's address changed). */
  announce(): void;
}

export interface ListenForHintsOptions extends DiscoveryNetOptions {
  durationMs: number;
  /**
   * This node's id: its own announcements are left out. With `name` and `port` too, it also
   * announces itself (only for a node that serves on that port); otherwise it only queries.
   */
  nodeId?: string;
  name?: string;
  port?: number;
  /** Each hint as it arrives (the result lists each node id, host and port once). */
  onHint?: (hint: Hint) => void;
  /** Stops listening early; the hints heard so far are returned. */
  signal?: AbortSignal;
}

/**
 * Announces this node now (with a query, so that the others answer at once), then every
 * `intervalMs`, and reports every other node's announcement to `onHint`. Throws INVALID_ARGUMENT
 * for bad options; anything the network refuses goes to `onError` and is tried again each period
 * (a port held by another program, an interface without multicast, a network not up yet).
 */
export async function startDiscovery(opts: DiscoveryOptions): Promise<Discovery> {
  const self = checkAnnouncement(opts);
  const beacon = new Beacon({
    ...checkNet(opts),
    self,
    ownNodeId: self.nodeId,
    intervalMs: checkInterval(opts.intervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS),
    onHint: opts.onHint,
  });
  await beacon.start();
  return { close: () => beacon.close(), announce: () => beacon.announce() };
}

/**
 * Listens for `durationMs` and returns the hints heard, one per node id, host and port, in the
 * order first heard. It queries at once and every QUERY_REPEAT_MS, so that listening nodes
 * announce without waiting for their period. Throws INVALID_ARGUMENT for bad options only.
 */
export async function listenForHints(opts: ListenForHintsOptions): Promise<Hint[]> {
  if (!Number.isFinite(opts.durationMs) || opts.durationMs < 0) {
    throw new P2pfxError('INVALID_ARGUMENT', `discovery: duration must be a number of ms ≥ 0, got ${String(opts.durationMs)}`);
  }
  let self: Announcement | null = null;
  let ownNodeId: string | null = null;
  if (opts.name !== undefined || opts.port !== undefined) {
    if (opts.nodeId === undefined || opts.name === undefined || opts.port === undefined) {
      throw new P2pfxError('INVALID_ARGUMENT', 'discovery: announcing needs nodeId, name and port together');
    }
    self = checkAnnouncement({ nodeId: opts.nodeId, name: opts.name, port: opts.port });
    ownNodeId = self.nodeId;
  } else if (opts.nodeId !== undefined) {
    ownNodeId = checkNodeIdOption(opts.nodeId);
  }
  const heard = new Map<string, Hint>();
  const beacon = new Beacon({
    ...checkNet(opts),
    self,
    ownNodeId,
    // Without an announcement of its own, each period sends a query instead.
    intervalMs: self ? DEFAULT_ANNOUNCE_INTERVAL_MS : QUERY_REPEAT_MS,
    onHint: (hint) => {
      heard.set(`${hint.nodeId} ${hint.host} ${hint.port}`, hint);
      opts.onHint?.(hint);
    },
  });
  if (opts.signal?.aborted) return [];
  await beacon.start();
  try {
    await sleep(opts.durationMs, undefined, opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    await beacon.close();
  }
  return [...heard.values()];
}

function checkNet(opts: DiscoveryNetOptions): Pick<BeaconConfig, 'group' | 'udpPort' | 'interfaceAddress' | 'onError'> {
  const group = opts.group ?? DISCOVERY_GROUP;
  if (!isIPv4Multicast(group)) throw new P2pfxError('INVALID_ARGUMENT', `discovery: group ${JSON.stringify(group)} is not an IPv4 multicast address (224.0.0.0/4)`);
  const udpPort = opts.udpPort ?? DISCOVERY_PORT;
  if (!isPort(udpPort)) throw new P2pfxError('INVALID_ARGUMENT', `discovery: UDP port must be 1..65535, got ${String(udpPort)}`);
  const interfaceAddress = opts.interfaceAddress ?? null;
  if (interfaceAddress !== null && !isIPv4(interfaceAddress)) {
    throw new P2pfxError('INVALID_ARGUMENT', `discovery: interface address ${JSON.stringify(interfaceAddress)} is not an IPv4 address`);
  }
  return { group, udpPort, interfaceAddress, onError: opts.onError };
}

function checkInterval(ms: number): number {
  if (!Number.isFinite(ms) || ms < MIN_INTERVAL_MS) {
    throw new P2pfxError('INVALID_ARGUMENT', `discovery: interval must be at least ${MIN_INTERVAL_MS} ms, got ${String(ms)}`);
  }
  return ms;
}

function isIPv4Multicast(address: string): boolean {
  if (!isIPv4(address)) return false;
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}
