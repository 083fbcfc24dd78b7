// The socket side of LAN discovery (net/discovery.ts): one UDP socket in the multicast group on
// each interface that has multicast, announcing or querying once per period, answering queries,
// and handing every other node's announcement on as a hint. Packets: net/protocol/discovery.ts.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { encodeAnnouncement, encodeQuery, parsePacket, type Announcement } from './protocol/discovery.js';

/** A node answers queries with at most one announcement per this many ms. */
export const QUERY_ANSWER_GAP_MS = 1_000;
/** Each period is drawn from intervalMs ± 20 %, so nodes started together do not stay in step. */
const JITTER = 0.2;
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

export interface BeaconConfig {
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
export class Beacon {
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
 * (read from /sys on Linux; elsewhere every interface but loopback is taken to have it). What the
 * beacon joins, and what `p2pfx doctor` reports.
 */
export async function multicastInterfaces(): Promise<Map<string, string>> {
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

