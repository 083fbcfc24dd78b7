// The peers of one download (DESIGN "Several peers"): which peer holds what, which failed, what
// each served; and the bulk scheduler that fetches a file's chunks from them in batches — each
// batch one POST /v1/chunks/fetch to one peer — and hands them out in file order.
import { P2pfxError, peerIsDown, toP2pfxError } from '../core/errors.js';
import { MAX_MISSING_IDS } from '../core/limits.js';
import type { FetchChannel } from '../net/bulk-client.js';
import type { PeerClient } from '../net/client.js';

/** Errors that say the peer itself is gone or broken: it gets no more chunks in this download. */

/**
 * Each chunk goes to a peer that holds it, the one with the fewest requests in flight (so a slow
 * peer gets fewer); a peer that fails gets no more chunks, a peer that lacks a chunk or serves bad
 * bytes for it is not asked for that chunk again. What went wrong is kept for the report; the
 * download fails only when no peer is left for some chunk.
 */
export class Swarm {
  readonly problems: Array<{ peer: string; code: string; message: string }> = [];
  /** Requests in flight per peer (bulk fetches and single chunks alike). */
  readonly inFlight: number[];
  private readonly served: number[];
  private readonly down = new Set<number>();
  /** Chunk id → the peers (indexes) that said they lack it. Unknown: assumed held. */
  private readonly lacking = new Map<string, Set<number>>();

  constructor(readonly clients: readonly PeerClient[]) {
    this.inFlight = clients.map(() => 0);
    this.served = clients.map(() => 0);
  }

  /** With several peers, asks each which chunks it lacks, so chunks go only where they are. */
  async locate(ids: readonly string[]): Promise<void> {
    if (this.clients.length < 2) return;
    await Promise.all(this.clients.map(async (client, i) => {
      try {
        for (let at = 0; at < ids.length; at += MAX_MISSING_IDS) {
          for (const id of await client.missing(ids.slice(at, at + MAX_MISSING_IDS))) this.noteLacks(id, i);
        }
      } catch (err) {
        this.fail(i, err);
      }
    }));
  }

  /** Fetches one chunk from the best peer for it, moving on to others as they fail. */
  async fetch(id: string, alloc: (n: number) => Buffer, exclude: ReadonlySet<number> = new Set()): Promise<{ view: Buffer; from: number }> {
    let last: P2pfxError | null = null;
    for (;;) {
      const i = this.pick(id, exclude);
      if (i === null) throw last ?? this.nobodyHas(id);
      this.inFlight[i]!++;
      try {
        const view = await this.clients[i]!.getChunk(id, { verify: false, alloc });
        this.served[i]!++;
        return { view, from: i };
      } catch (err) {
        last = this.fail(i, err, id);
      } finally {
        this.inFlight[i]!--;
      }
    }
  }

  /** A peer served bytes that are not the chunk: reported, and not asked for that chunk again. */
  servedBad(i: number, id: string): void {
    this.served[i]!--;
    this.fail(i, new P2pfxError('HASH_MISMATCH', `peer ${this.clients[i]!.label} served chunk ${id} with bytes that do not match its id`), id);
  }

  /** Whether another peer than `i` may still hold chunk `id`. */
  hasOther(id: string, i: number): boolean {
    return this.pick(id, new Set([i])) !== null;
  }

  label(i: number): string {
    return this.clients[i]!.label;
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.clients.map((c, i) => [c.label, this.served[i]!]));
  }

  /** Whether peer `i` may serve chunk `id` (not down, not known to lack it). */
  mayHold(i: number, id: string): boolean {
    return !this.down.has(i) && this.lacking.get(id)?.has(i) !== true;
  }

  /** The peer that may hold `id` with the fewest requests in flight, among those under `maxInFlight`. */
  pick(id: string, exclude: ReadonlySet<number> = new Set(), maxInFlight = Infinity): number | null {
    let best: number | null = null;
    for (let i = 0; i < this.clients.length; i++) {
      if (exclude.has(i) || !this.mayHold(i, id) || this.inFlight[i]! >= maxInFlight) continue;
      if (best === null || this.inFlight[i]! < this.inFlight[best]!) best = i;
    }
    return best;
  }

  noteServed(i: number): void {
    this.served[i]!++;
  }

  noteLacks(id: string, i: number): void {
    let set = this.lacking.get(id);
    if (!set) this.lacking.set(id, (set = new Set()));
    set.add(i);
  }

  /** Records what went wrong with peer `i` (for chunk `id`, if one was at fault); returns it as a P2pfxError. */
  fail(i: number, err: unknown, id?: string): P2pfxError {
    const e = toP2pfxError(err);
    if (this.clients.length > 1) this.problems.push({ peer: this.clients[i]!.label, code: e.code, message: e.message });
    if (peerIsDown(e)) this.down.add(i);
    else if (id !== undefined) this.noteLacks(id, i);
    return e;
  }

  nobodyHas(id: string): P2pfxError {
    return new P2pfxError('CHUNK_NOT_FOUND', `no peer that is still reachable holds chunk ${id} (asked ${this.clients.map((c) => c.label).join(', ')})`);
  }
}

export interface Want { id: string; size: number }
export interface Got { blob: Buffer; length: number; from: number }

export interface BulkFetchOptions {
  /** Chunks asked of one peer and not yet answered, at most. */
  perPeer: number;
  /** Chunks fetched ahead of the next one taken, at most: what bounds memory. */
  window: number;
  /** A buffer for a blob of `size` bytes (a reused one when it fits). */
  alloc: (size: number) => Buffer;
}

/**
 * Fetches `wants` from the swarm over bulk streams (one per peer, opened when first needed) and
 * hands them out in order: take(0), take(1)… Positions within `window` of the next one taken are
 * asked for, each of the peer with the fewest unanswered asks among those that may hold it. A chunk
 * a peer says it lacks, or that a failed stream did not deliver, goes back to the queue for another
 * peer; when no peer is left for one, take() of it (and of those after it) rejects with the reason.
 */
export class BulkFetch {
  /** Positions to ask for, in order (requeued ones go back in order). */
  private queue: number[] = [];
  private nextNew = 0;
  private taken = 0;
  private readonly ready = new Map<number, Got>();
  private readonly waiter = new Map<number, { resolve: (g: Got) => void; reject: (e: unknown) => void }>();
  /** Why the chunk at `failedAt` can be had from nobody; chunks before it are still fetched. */
  private fatal: P2pfxError | null = null;
  private failedAt = Infinity;
  private readonly lastError = new Map<number, P2pfxError>();
  /** Per peer: its stream, and the positions asked of it in order (answers come in that order). */
  private readonly channels: Array<Promise<FetchChannel> | null>;
  private readonly asked: number[][];
  private closed = false;

  constructor(private readonly swarm: Swarm, private readonly wants: readonly Want[], private readonly opts: BulkFetchOptions) {
    this.channels = swarm.clients.map(() => null);
    this.asked = swarm.clients.map(() => []);
  }

  /** The chunk at position `pos`; positions must be taken in order. */
  take(pos: number): Promise<Got> {
    if (pos !== this.taken) throw new RangeError(`take(${pos}) out of order (next is ${this.taken})`);
    const got = this.ready.get(pos);
    if (got !== undefined) {
      this.ready.delete(pos);
      this.taken++;
      this.pump();
      return Promise.resolve(got);
    }
    if (pos >= this.failedAt) return Promise.reject(this.fatal);
    const p = new Promise<Got>((resolve, reject) => this.waiter.set(pos, { resolve, reject }));
    this.pump();
    return p.then((g) => {
      this.taken++;
      this.pump();
      return g;
    });
  }

  /** Stops: streams are cut, nothing more is asked. */
  close(): void {
    this.closed = true;
    this.fail(0, new P2pfxError('CANCELLED', 'download stopped'));
    for (const c of this.channels) void c?.then((ch) => ch.destroy(), () => undefined);
  }

  private pump(): void {
    if (this.closed) return;
    const limit = Math.min(this.taken + this.opts.window, this.failedAt);
    for (;;) {
      const pos = this.peek();
      if (pos === undefined || pos >= limit) return;
      const id = this.wants[pos]!.id;
      const peer = this.swarm.pick(id, new Set(), this.opts.perPeer);
      if (peer === null) {
        if (this.swarm.pick(id) !== null) return; // every peer that may hold it is busy: an answer pumps again
        // Nobody is left for this chunk: it and what follows fail, what comes before goes on.
        this.fail(pos, this.lastError.get(pos) ?? this.swarm.nobodyHas(id));
        return;
      }
      this.pop();
      this.ask(peer, pos);
    }
  }

  private ask(peer: number, pos: number): void {
    const want = this.wants[pos]!;
    this.asked[peer]!.push(pos);
    this.swarm.inFlight[peer]!++;
    this.channel(peer).then((c) => c.ask(want.id, want.size), (err: unknown) => this.peerFailed(peer, err));
  }

  private channel(peer: number): Promise<FetchChannel> {
    const open = this.channels[peer];
    if (open !== null && open !== undefined) return open;
    const opening = this.swarm.clients[peer]!.openFetch(this.opts.alloc,
      (id, blob) => this.answered(peer, id, blob),
      (err) => this.peerFailed(peer, err));
    this.channels[peer] = opening;
    return opening;
  }

  private answered(peer: number, id: string, blob: Buffer | null): void {
    const pos = this.asked[peer]!.shift()!;
    this.swarm.inFlight[peer]!--;
    if (blob === null) {
      this.swarm.noteLacks(id, peer);
      this.requeue(pos);
    } else {
      this.swarm.noteServed(peer);
      this.deliver(pos, { blob: Buffer.from(blob.buffer as ArrayBuffer), length: blob.length, from: peer });
    }
    this.pump();
  }

  /** A peer's stream failed (or could not open): what it owed goes back to the queue. */
  private peerFailed(peer: number, err: unknown): void {
    const owed = this.asked[peer]!.splice(0);
    if (this.channels[peer] === null && owed.length === 0) return; // already handled
    this.channels[peer] = null;
    this.swarm.inFlight[peer]! -= owed.length;
    if (this.closed) return;
    const e = this.swarm.fail(peer, err, owed.length > 0 ? this.wants[owed[0]!]!.id : undefined);
    for (const pos of owed) {
      this.lastError.set(pos, e);
      this.requeue(pos);
    }
    this.pump();
  }

  private deliver(pos: number, got: Got): void {
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
