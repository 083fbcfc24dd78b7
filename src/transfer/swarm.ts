// The peers of one download (DESIGN "Several peers"): which peer holds what, which failed, what
// each served. The bulk scheduler that draws on them is transfer/bulk-fetch.ts.
import { P2pfxError, peerIsDown, toP2pfxError } from '../core/errors.js';
import { MAX_MISSING_IDS } from '../core/limits.js';
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
