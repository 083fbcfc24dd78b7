// LAN discovery: nodes announce their node id, name and API port by UDP multicast and listen for
// each other's announcements. An announcement is a hint, never a credential: anyone on the LAN can
// send one, under any node id, from any address. It only says where a node might dial; a peer is
// trusted once an mTLS handshake with it succeeds and the session's certificate carries the node id
// that was announced (DESIGN.md, "Trust" → "Discovery").
//
// Plain node:dgram rather than mDNS/DNS-SD: the packet is ours (one small JSON object, checked
// field by field), there is no dependency, and nothing here needs to interoperate with other
// software's service browsers.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { P2pfxError } from '../core/errors.js';
import { DISCOVERY_GROUP, DISCOVERY_PORT, checkAnnouncement, checkNodeIdOption, encodeAnnouncement, encodeQuery, isPort, parsePacket, type Announcement } from './protocol/discovery.js';

export const DEFAULT_ANNOUNCE_INTERVAL_MS = 5_000;
/** A node answers queries with at most one announcement per this many ms. */
export const QUERY_ANSWER_GAP_MS = 1_000;
/** How often listenForHints repeats its query (a lost packet costs a second, not the whole wait). */
export const QUERY_REPEAT_MS = 1_000;
/** Each period is drawn from intervalMs ± 20 %, so nodes started together do not stay in step. */
const JITTER = 0.2;
const MIN_INTERVAL_MS = 50;
/** Multicast hops: 1 keeps announcements on the link. */
const MULTICAST_TTL = 1;
/** <linux/if.h>: the interface supports multicast. */
const IFF_MULTICAST = 0x1000;

/** Where a node says it can be reached. `host` is the UDP source address, never the packet's claim. */
export interface Hint { nodeId: string; name: string; host: string; port: number }

export type DiscoveryStage = 'bind' | 'join' | 'interfaces' | 'send' | 'socket' | 'hint';

/**
 * A reason discovery does not (fully) work. Reported through `onError`, never thrown: a node
 * without discovery still serves and can be dialled by address.
 */
export class DiscoveryError extends Error {
  /** The system error code when there is one (EADDRINUSE, EADDRNOTAVAIL, ENETUNREACH…). */
  readonly errno: string | undefined;

  constructor(readonly stage: DiscoveryStage, message: string, cause?: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(errno ? `${message} (${errno})` : message, cause === undefined ? undefined : { cause });
    this.name = 'DiscoveryError';
    this.errno = errno;
  }
}

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

interface BeaconConfig {
  group: string;
  udpPort: number;
  interfaceAddress: string | null;
  /** What to announce; null for a listener that only queries. */
  self: Announcement | null;
  /** Packets carrying this node id are dropped (our own, looped back, or someone posing as us). */
  ownNodeId: string | null;
  intervalMs: number;
  onHint: (hint: Hint) => void;
  onError: ((err: DiscoveryError) => void) | undefined;
}

/**
 * One UDP socket bound to the discovery port (shared: SO_REUSEADDR), a member of the group on
 * each multicast interface, announcing (or querying) on each of them once per period.
 */
class Beacon {
  private socket: Socket | null = null;
  /** Interface (name, or the address given) → the address the group was joined on. */
  private readonly joined = new Map<string, string>();
  private periodTimer: NodeJS.Timeout | null = null;
  private answerTimer: NodeJS.Timeout | null = null;
  private lastAnswerAt = -Infinity;
  /** Sends run one after another: each picks its interface with setMulticastInterface first. */
  private sending: Promise<void> = Promise.resolve();
  /** The last problem reported per stage, so that a node without network does not repeat it every period. */
  private readonly reported = new Map<DiscoveryStage, string>();
  private closed = false;

  constructor(private readonly cfg: BeaconConfig) {}

  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  announce(): void {
    if (this.cfg.self) this.send(encodeAnnouncement(this.cfg.self));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.periodTimer) clearTimeout(this.periodTimer);
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.periodTimer = this.answerTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.joined.clear();
    // Leaving the group and cancelling sends in flight come with closing the socket. A send whose
    // callback never comes (closed between its lookup and its write) holds nothing open.
    if (socket) await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private schedule(): void {
    if (this.closed) return;
    const delay = this.cfg.intervalMs * (1 - JITTER + 2 * JITTER * Math.random());
    this.periodTimer = setTimeout(() => {
      this.periodTimer = null;
      void this.tick().finally(() => this.schedule());
    }, delay);
  }

  /** Binds if not bound yet, follows the interfaces, then announces (or queries). Never throws. */
  private async tick(): Promise<void> {
    try {
      if (!(await this.bind())) return;
      const joinedNew = await this.followInterfaces();
      if (this.closed) return;
      // On a newly joined network (at start, or a link that came up), ask the others to announce too.
      if (this.cfg.self) this.send(encodeAnnouncement(this.cfg.self, { query: joinedNew }));
      else this.send(encodeQuery(this.cfg.ownNodeId));
    } catch (err) {
      this.report(new DiscoveryError('socket', `discovery: ${(err as Error).message}`, err));
    }
  }

  private async bind(): Promise<boolean> {
    if (this.socket) return true;
    if (this.closed) return false;
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(this.cfg.udpPort, '0.0.0.0', () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      try {
        socket.close();
      } catch {
        // never bound: nothing to release
      }
      this.report(new DiscoveryError('bind', `discovery: cannot bind UDP port ${this.cfg.udpPort}`, err));
      return false;
    }
    if (this.closed) {
      socket.close();
      return false;
    }
    this.cleared('bind');
    this.socket = socket; // from here on, close() releases it
    socket.on('error', (err) => this.report(new DiscoveryError('socket', `discovery: ${err.message}`, err)));
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    try {
      socket.setMulticastLoopback(true); // other nodes on this machine hear us too
      socket.setMulticastTTL(MULTICAST_TTL);
    } catch (err) {
      this.report(new DiscoveryError('socket', 'discovery: cannot set the multicast options', err));
    }
    return true;
  }

  /** Joins the group on interfaces that appeared, forgets those gone. True when one was joined. */
  private async followInterfaces(): Promise<boolean> {
    const wanted = this.cfg.interfaceAddress
      ? new Map([[this.cfg.interfaceAddress, this.cfg.interfaceAddress]])
      : await multicastInterfaces();
    const socket = this.socket;
    if (!socket || this.closed) return false;
    if (wanted.size === 0) this.report(new DiscoveryError('interfaces', 'discovery: no IPv4 interface with multicast is up'));
    else this.cleared('interfaces');
    for (const [key, address] of this.joined) {
      if (wanted.get(key) === address) continue;
      this.joined.delete(key);
      try {
        socket.dropMembership(this.cfg.group, address);
      } catch {
        // the address is gone; the kernel keeps or drops the membership with its interface
      }
    }
    let joinedNew = false;
    let failed = false;
    for (const [key, address] of wanted) {
      if (this.joined.has(key)) continue;
      try {
        socket.addMembership(this.cfg.group, address);
      } catch (err) {
        // Already a member: the interface kept its membership while its address changed.
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          failed = true;
          this.report(new DiscoveryError('join', `discovery: cannot join ${this.cfg.group} on ${key === address ? address : `${key} (${address})`}`, err));
          continue;
        }
      }
      this.joined.set(key, address);
      joinedNew = true;
    }
    if (!failed) this.cleared('join');
    return joinedNew;
  }

  /** Queues `packet` for each joined interface. Never falls back to the system's default interface. */
  private send(packet: Buffer): void {
    if (this.closed) return;
    this.sending = this.sending.then(async () => {
      let failed = false;
      for (const address of [...this.joined.values()]) {
        const socket = this.socket;
        if (!socket || this.closed) return;
        const err = await new Promise<Error | null>((resolve) => {
          try {
            socket.setMulticastInterface(address);
            socket.send(packet, this.cfg.udpPort, this.cfg.group, (e) => resolve(e ?? null));
          } catch (e) {
            resolve(e as Error);
          }
        });
        if (err && !this.closed) {
          failed = true;
          this.report(new DiscoveryError('send', `discovery: cannot send to ${this.cfg.group}:${this.cfg.udpPort} on ${address}`, err));
        }
      }
      if (!failed) this.cleared('send');
    });
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const packet = parsePacket(msg);
    if (!packet || (packet.nodeId !== null && packet.nodeId === this.cfg.ownNodeId)) return;
    if (packet.kind === 'query' || packet.query) this.answer();
    if (packet.kind !== 'announce') return;
    try {
      this.cfg.onHint({ nodeId: packet.nodeId, name: packet.name, host: rinfo.address, port: packet.port });
    } catch (err) {
      this.report(new DiscoveryError('hint', `discovery: onHint failed: ${(err as Error).message}`, err));
    }
  }

  /** Announces at once, or once QUERY_ANSWER_GAP_MS has passed since the last answer. */
  private answer(): void {
    if (!this.cfg.self || this.answerTimer || this.closed) return;
    const now = performance.now();
    const wait = this.lastAnswerAt + QUERY_ANSWER_GAP_MS - now;
    const go = (): void => {
      this.answerTimer = null;
      this.lastAnswerAt = performance.now();
      this.announce();
    };
    if (wait <= 0) go();
    else this.answerTimer = setTimeout(go, wait);
  }

  private report(err: DiscoveryError): void {
    if (this.closed || this.reported.get(err.stage) === err.message) return;
    this.reported.set(err.stage, err.message);
    try {
      this.cfg.onError?.(err);
    } catch {
      // a failing error callback must not stop discovery either
    }
  }

  private cleared(stage: DiscoveryStage): void {
    this.reported.delete(stage);
  }
}

/**
 * Interface name → its first IPv4 address, for the interfaces that are up and have MULTICAST
 * (read from /sys on Linux; elsewhere every interface but loopback is taken to have it).
 */
async function multicastInterfaces(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    const v4 = addresses?.find((a) => a.family === 'IPv4');
    if (!v4) continue;
    if ((await hasMulticastFlag(name)) ?? !v4.internal) out.set(name, v4.address);
  }
  return out;
}

async function hasMulticastFlag(name: string): Promise<boolean | null> {
  if (process.platform !== 'linux' || name.includes('/')) return null;
  try {
    const flags = Number.parseInt((await readFile(`/sys/class/net/${name}/flags`, 'utf8')).trim(), 16);
    return Number.isNaN(flags) ? null : (flags & IFF_MULTICAST) !== 0;
  } catch {
    return null;
  }
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
