// The bulk scheduler of a download from several peers (DESIGN "The swarm scheduler"): which
// chunk is asked of which holder, how many each has in flight, and the end-game. Chunks come over
// one bulk stream per peer (POST-less frames, answered in order) and are handed out in file order.
import { P2pfxError } from '../core/errors.js';
import type { FetchChannel } from '../net/bulk-client.js';
import type { Swarm } from './swarm.js';

export interface Want { id: string; size: number }
export interface Got { blob: Buffer; length: number; from: number }

export interface BulkFetchOptions {
  /** Chunks asked of one peer and not yet answered, at most. */
  perPeer: number;
  /** Chunks fetched ahead of the next one taken, at most: what bounds memory. */
  window: number;
  /** A buffer for a blob of `size` bytes (a reused one when it fits). */
  alloc: (size: number) => Buffer;
  /** Takes back a buffer from alloc that was not handed out (a duplicate answer). */
  release?: (blob: Buffer) => void;
}

/** A peer is asked again for the head chunk when another would bring it this much sooner. */
const RESCUE_MARGIN = 1.5;
/** Weight of the newest sample in a peer's time per byte. */
const EWMA_WEIGHT = 0.3;
/** While the download waits on a slow ask and some peer is idle, the schedule is looked at again this often. */
const RESCAN_MS = 100;

interface Ask { pos: number; at: number; size: number }

/**
 * Fetches `wants` from the swarm over bulk streams (one per peer, opened when first needed) and
 * hands them out in order: take(0), take(1)…
 *
 * - Each position within `window` of the next one taken goes to the holder expected to answer it
 *   first: (bytes it already owes + this chunk) × its measured time per byte. A holder at its
 *   `perPeer` bound is waited for when it would still be sooner than the best free one, so a slow
 *   holder gets chunks only in proportion to its speed.
 * - Rescue and end-game: when the window is full, or nothing is left to ask, the oldest chunks
 *   still awaited are also asked of a free holder that would bring them clearly sooner than the
 *   one they wait on. The first answer is kept, the other dropped; a stream whose every ask was
 *   answered elsewhere is closed (reopened if needed), so a slow holder never holds up the end.
 * - A chunk a peer lacks, or that a failed stream did not deliver, goes back to the queue for
 *   another peer (unless a copy is still on its way); when no peer is left for one, take() of it
 *   (and of those after it) rejects with the reason.
 */
export class BulkFetch {
  /** Positions to ask for, in order (requeued ones go back in order). */
  private queue: number[] = [];
  private nextNew = 0;
  private taken = 0;
  private readonly ready = new Map<number, Got>();
  /** Delivered and not yet taken (in `ready`, or handed to a waiter whose take() has not returned). */
  private readonly delivered = new Set<number>();
  private readonly waiter = new Map<number, { resolve: (g: Got) => void; reject: (e: unknown) => void }>();
  /** Position → the peers it is asked of now (two while rescued). */
  private readonly askedOf = new Map<number, number[]>();
  /** Why the chunk at `failedAt` can be had from nobody; chunks before it are still fetched. */
  private fatal: P2pfxError | null = null;
  private failedAt = Infinity;
  private readonly lastError = new Map<number, P2pfxError>();
  /** Per peer: its stream, its generation (callbacks of a closed stream are ignored), its asks in order. */
  private readonly channels: Array<Promise<FetchChannel> | null>;
  private readonly generation: number[];
  private readonly asks: Ask[][];
  private readonly owedBytes: number[];
  /** Per peer: measured seconds per byte (NaN until its first answer), and when its last answer came. */
  private readonly secondsPerByte: number[];
  private readonly lastAnswerAt: number[];
  /** Per peer: its stream was reopened after it was found closed, and has not answered since. */
  private readonly reopened: boolean[];
  private rescan: NodeJS.Timeout | null = null;
  private closed = false;
  /** Chunks asked a second time, and answers dropped as duplicates (for the report). */
  rescued = 0;
  duplicates = 0;

  constructor(private readonly swarm: Swarm, private readonly wants: readonly Want[], private readonly opts: BulkFetchOptions) {
    const n = swarm.clients.length;
    this.channels = Array.from({ length: n }, () => null);
    this.generation = Array.from({ length: n }, () => 0);
    this.asks = Array.from({ length: n }, () => []);
    this.owedBytes = Array.from({ length: n }, () => 0);
    this.secondsPerByte = Array.from({ length: n }, () => Number.NaN);
    this.lastAnswerAt = Array.from({ length: n }, () => 0);
    this.reopened = Array.from({ length: n }, () => false);
  }

  /** The chunk at position `pos`; positions must be taken in order. */
  take(pos: number): Promise<Got> {
    if (pos !== this.taken) throw new RangeError(`take(${pos}) out of order (next is ${this.taken})`);
    const got = this.ready.get(pos);
    if (got !== undefined) {
      this.ready.delete(pos);
      this.consumed(pos);
      return Promise.resolve(got);
    }
    if (pos >= this.failedAt) return Promise.reject(this.fatal);
    const p = new Promise<Got>((resolve, reject) => this.waiter.set(pos, { resolve, reject }));
    this.pump();
    return p.then((g) => {
      this.consumed(pos);
      return g;
    });
  }

  /** Stops: streams are cut, nothing more is asked. */
  close(): void {
    this.closed = true;
    if (this.rescan !== null) clearTimeout(this.rescan);
    this.fail(0, new P2pfxError('CANCELLED', 'download stopped'));
    for (const c of this.channels) void c?.then((ch) => ch.destroy(), () => undefined);
  }

  private consumed(pos: number): void {
    this.delivered.delete(pos);
    this.taken++;
    this.pump();
  }

  private isDelivered(pos: number): boolean {
    return pos < this.taken || this.delivered.has(pos);
  }

  private pump(): void {
    if (this.closed) return;
    const limit = Math.min(this.taken + this.opts.window, this.failedAt);
    for (;;) {
      const pos = this.peek();
      if (pos === undefined || pos >= limit) break;
      const peer = this.choose(pos);
      if (peer === 'wait') break;
      if (peer === 'nobody') {
        // Nobody is left for this chunk: it and what follows fail, what comes before goes on.
        this.fail(pos, this.lastError.get(pos) ?? this.swarm.nobodyHas(this.wants[pos]!.id));
        return;
      }
      this.pop();
      this.ask(peer, pos);
    }
    // What the download waits on may be late: asked again of a free holder if that is sooner.
    this.rescue();
  }

  /**
   * The holder expected to answer `pos` first among those with room; 'wait' when every holder
   * with room would be slower than waiting for a busy one, 'nobody' when no holder is left.
   */
  private choose(pos: number): number | 'wait' | 'nobody' {
    const { id, size } = this.wants[pos]!;
    let best = -1;
    let bestEta = Infinity;
    let busyEta = Infinity;
    for (let i = 0; i < this.asks.length; i++) {
      if (!this.swarm.mayHold(i, id)) continue;
      const eta = this.eta(i, size);
      if (this.asks[i]!.length >= this.opts.perPeer) busyEta = Math.min(busyEta, eta);
      else if (eta < bestEta || (eta === bestEta && this.asks[i]!.length < this.asks[best]!.length)) {
        best = i;
        bestEta = eta;
      }
    }
    if (best < 0) return busyEta < Infinity ? 'wait' : 'nobody';
    return busyEta < bestEta ? 'wait' : best;
  }

  /** Seconds until peer `i` would answer one more ask of `size` bytes. */
  private eta(i: number, size: number): number {
    return (this.owedBytes[i]! + size) * this.currentRate(i, performance.now() / 1000);
  }

  /** Peer `i`'s seconds per byte now: a chunk under way for longer than its rate says makes it that slow. */
  private currentRate(i: number, now: number): number {
    const head = this.asks[i]![0];
    const rate = this.rate(i);
    return head === undefined ? rate : Math.max(rate, this.sinceHead(i, now) / Math.max(1, head.size));
  }

  /** How long peer `i`'s oldest ask has been under way (since it was asked, or since its previous answer). */
  private sinceHead(i: number, now: number): number {
    return now - Math.max(this.asks[i]![0]!.at, this.lastAnswerAt[i]!);
  }

  /** Peer `i`'s seconds per byte; one not measured yet is assumed as fast as the fastest known. */
  private rate(i: number): number {
    const own = this.secondsPerByte[i]!;
    if (!Number.isNaN(own)) return own;
    let fastest = Infinity;
    for (const r of this.secondsPerByte) if (!Number.isNaN(r)) fastest = Math.min(fastest, r);
    return fastest === Infinity ? 0 : fastest;
  }

  /**
   * The chunks awaited next, each asked of one holder, are asked of a second one with room when
   * it would answer clearly sooner than the first is now expected to (its time per chunk, or the
   * time this chunk has taken so far, if longer).
   */
  private rescue(): void {
    const now = performance.now() / 1000;
    let later = false;
    const limit = Math.min(this.taken + this.opts.window, this.failedAt);
    for (let pos = this.taken; pos < limit; pos++) {
      const of = this.askedOf.get(pos);
      if (of === undefined || of.length !== 1 || this.isDelivered(pos)) continue;
      const holder = of[0]!;
      const queue = this.asks[holder]!;
      const rank = queue.findIndex((a) => a.pos === pos);
      const head = queue[0]!;
      // The holder's chunk under way has taken `since` so far; past its estimate, it is late, and
      // as much again is expected (for it and for each ask queued behind it).
      const since = this.sinceHead(holder, now);
      const estimate = head.size * this.rate(holder);
      const perChunk = Math.max(estimate, since);
      const expected = (since < estimate ? estimate - since : since) + rank * perChunk;
      const { id, size } = this.wants[pos]!;
      let best = -1;
      let bestEta = Infinity;
      for (let i = 0; i < this.asks.length; i++) {
        if (i === holder || this.asks[i]!.length >= this.opts.perPeer || !this.swarm.mayHold(i, id)) continue;
        const eta = this.eta(i, size);
        if (eta < bestEta) {
          best = i;
          bestEta = eta;
        }
      }
      if (best < 0) break; // nobody has room: an answer pumps again
      if (bestEta * RESCUE_MARGIN < expected) {
        this.rescued++;
        this.ask(best, pos);
      } else later = true;
    }
    // A free holder could take an awaited chunk if it gets late: look again soon.
    if (later && this.rescan === null) {
      this.rescan = setTimeout(() => {
        this.rescan = null;
        this.pump();
      }, RESCAN_MS);
      this.rescan.unref();
    }
  }

  private ask(peer: number, pos: number): void {
    const want = this.wants[pos]!;
    this.asks[peer]!.push({ pos, at: performance.now() / 1000, size: want.size });
    this.owedBytes[peer]! += want.size;
    const of = this.askedOf.get(pos);
    if (of === undefined) this.askedOf.set(pos, [peer]);
    else of.push(peer);
    this.swarm.inFlight[peer]!++;
    this.send(peer, want);
  }

  /** Puts an ask on the peer's stream (opened if needed). */
  private send(peer: number, want: Want): void {
    const channel = this.channel(peer);
    const gen = this.generation[peer]!;
    channel.then((c) => {
      if (gen !== this.generation[peer]) return; // asked again on a newer stream, or given up
      if (c.usable) c.ask(want.id, want.size);
      else if (!this.reopened[peer]) this.reopen(peer);
      else this.peerFailed(peer, gen, c.error ?? new P2pfxError('PEER_UNREACHABLE', `peer ${this.swarm.label(peer)} closed its bulk stream as soon as it was opened`));
    }, (err: unknown) => this.peerFailed(peer, gen, err));
  }

  /**
   * The peer's stream closed while it owed nothing (the peer went away, or ended an idle stream):
   * nobody said so, so it is found here. Another is opened, once, and what it owes asked there;
   * a peer that is gone then fails to connect, and is reported.
   */
  private reopen(peer: number): void {
    this.reopened[peer] = true;
    this.generation[peer]!++;
    this.channels[peer] = null;
    for (const a of this.asks[peer]!) this.send(peer, this.wants[a.pos]!);
  }

  private channel(peer: number): Promise<FetchChannel> {
    const open = this.channels[peer];
    if (open !== null && open !== undefined) return open;
    const gen = ++this.generation[peer]!;
    const opening = this.swarm.clients[peer]!.openFetch(this.opts.alloc,
      (id, blob) => this.answered(peer, gen, id, blob),
      (err) => this.peerFailed(peer, gen, err));
    this.channels[peer] = opening;
    return opening;
  }

  /** Takes the oldest ask of `peer` off its books. */
  private settle(peer: number, a: Ask): void {
    this.owedBytes[peer]! -= a.size;
    this.swarm.inFlight[peer]!--;
    const of = this.askedOf.get(a.pos);
    if (of === undefined) return;
    of.splice(of.indexOf(peer), 1);
    if (of.length === 0) this.askedOf.delete(a.pos);
  }

  private answered(peer: number, gen: number, id: string, blob: Buffer | null): void {
    if (gen !== this.generation[peer]) return;
    const a = this.asks[peer]!.shift()!;
    this.settle(peer, a);
    this.reopened[peer] = false;
    const now = performance.now() / 1000;
    const pos = a.pos;
    if (blob === null) {
      this.swarm.noteLacks(id, peer);
      if (!this.isDelivered(pos) && !this.askedOf.has(pos)) this.requeue(pos);
    } else {
      const sample = (now - Math.max(a.at, this.lastAnswerAt[peer]!)) / Math.max(1, a.size);
      const old = this.secondsPerByte[peer]!;
      this.secondsPerByte[peer] = Number.isNaN(old) ? sample : old + EWMA_WEIGHT * (sample - old);
      if (this.isDelivered(pos)) {
        this.duplicates++;
        this.opts.release?.(blob);
      } else {
        this.swarm.noteServed(peer);
        this.deliver(pos, { blob: Buffer.from(blob.buffer as ArrayBuffer), length: blob.length, from: peer });
        this.dropDuplicates(pos);
      }
    }
    this.lastAnswerAt[peer] = now;
    this.pump();
  }

  /** `pos` came: a peer still asked for it whose every ask is now answered elsewhere has its stream closed. */
  private dropDuplicates(pos: number): void {
    const others = this.askedOf.get(pos);
    if (others === undefined) return;
    for (const peer of [...others]) {
      if (!this.asks[peer]!.every((a) => this.isDelivered(a.pos))) continue;
      // It was outrun: its rate is at least as slow as it has shown, for what it is asked next.
      this.secondsPerByte[peer] = this.currentRate(peer, performance.now() / 1000);
      for (const a of this.asks[peer]!.splice(0)) this.settle(peer, a);
      this.generation[peer]!++;
      const c = this.channels[peer];
      this.channels[peer] = null;
      void c?.then((ch) => ch.destroy(), () => undefined);
    }
  }

  /** A peer's stream failed (or could not open): what it owed goes back to the queue. */
  private peerFailed(peer: number, gen: number, err: unknown): void {
    if (gen !== this.generation[peer]) return;
    this.generation[peer]!++;
    const owed = this.asks[peer]!.splice(0);
    this.channels[peer] = null;
    for (const a of owed) this.settle(peer, a);
    if (this.closed) return;
    const e = this.swarm.fail(peer, err, owed.length > 0 ? this.wants[owed[0]!.pos]!.id : undefined);
    for (const { pos } of owed) {
      this.lastError.set(pos, e);
      if (!this.isDelivered(pos) && !this.askedOf.has(pos)) this.requeue(pos);
    }
    this.pump();
  }

  private deliver(pos: number, got: Got): void {
    this.delivered.add(pos);
    const w = this.waiter.get(pos);
    if (w !== undefined) {
      this.waiter.delete(pos);
      w.resolve(got);
    } else this.ready.set(pos, got);
  }

  /** Chunks from `pos` on cannot be had: their waiters get `err` (the earliest failure wins). */
  private fail(pos: number, err: P2pfxError): void {
    if (pos >= this.failedAt) return;
    this.failedAt = pos;
    this.fatal = err;
    for (const [p, w] of this.waiter) {
      if (p < pos) continue;
      this.waiter.delete(p);
      w.reject(err);
    }
  }

  private peek(): number | undefined {
    const queued = this.queue[0];
    const fresh = this.nextNew < this.wants.length ? this.nextNew : undefined;
    if (queued === undefined) return fresh;
    return fresh === undefined || queued < fresh ? queued : fresh;
  }

  private pop(): number | undefined {
    const pos = this.peek();
    if (pos === undefined) return undefined;
    if (pos === this.queue[0]) this.queue.shift();
    else this.nextNew++;
    return pos;
  }

  private requeue(pos: number): void {
    let at = this.queue.length;
    while (at > 0 && this.queue[at - 1]! > pos) at--;
    this.queue.splice(at, 0, pos);
  }
}
