// Where the chunks of a download come from (transfer/get.ts): the local store when held, else the
// swarm of peers (transfer/swarm.ts); a chunk is trusted only once a crypto worker has checked it
// against its id.
import { MAX_MISSING_IDS } from '../core/limits.js';
import { P2pfxError } from '../core/errors.js';
import { collectEvery } from '../core/gc.js';
import type { BufferRing } from '../core/buffer-ring.js';
import type { LocalNode } from '../store/local-node.js';
import type { FileWriter } from './crypto-pool.js';
import type { BulkFetch } from './bulk-fetch.js';
import type { Swarm } from './swarm.js';

/** Times a chunk is asked of the only peer that holds it before its bad bytes are reported. */
const FETCH_ATTEMPTS = 2;

/** A chunk's blob as it came, and from where (-1: the local store). */
interface Fetched { id: string; blob: Buffer; length: number; local: boolean; from: number }

/** Chunks in a worker's hands at once in a `get` (one being opened, the others being written). */
export const WRITES_PER_WORKER = 3;

/**
 * Where chunks come from: the local store when held, else the swarm. Nothing is trusted until the
 * worker has checked it against its id: a bad local copy is dropped and fetched again, a peer's
 * bad bytes are fetched from another peer (or, with one peer, asked for once more), then reported.
 */
export class ChunkSource {
  fetched = 0;
  local = 0;

  constructor(private readonly node: LocalNode, private readonly swarm: Swarm | null, private readonly blobs: BufferRing) {}

  /** A buffer for a fetched blob: a reused one when it fits. */
  readonly alloc = (n: number): Buffer => (n <= this.blobs.size ? this.blobs.take() : Buffer.allocUnsafeSlow(n));

  /** Which of `ids` the local store holds. */
  async localOf(ids: readonly string[]): Promise<Set<string>> {
    const missing = new Set<string>();
    for (let at = 0; at < ids.length; at += MAX_MISSING_IDS) {
      for (const id of await this.node.store.missing(ids.slice(at, at + MAX_MISSING_IDS))) missing.add(id);
    }
    return new Set(ids.filter((id) => !missing.has(id)));
  }

  /** A chunk from the local store; from a peer if it went missing meanwhile. */
  async fromStore(id: string): Promise<Fetched> {
    // Into a ring buffer too: a node reassembling a file it received reads every chunk this way.
    const view = await this.node.store.readInto(id, this.alloc).catch(() => null);
    if (view) return { id, blob: Buffer.from(view.buffer as ArrayBuffer), length: view.length, local: true, from: -1 };
    return this.fromPeer(id);
  }

  /** The next chunk of the bulk fetch (position `pos` of its wants). */
  async fromBulk(bulk: BulkFetch | null, id: string, pos: number): Promise<Fetched> {
    if (bulk === null) throw new P2pfxError('CHUNK_NOT_FOUND', `chunk ${id} is not held here, and no peer was asked`);
    this.afterChunk();
    const got = await bulk.take(pos);
    return { id, blob: got.blob, length: got.length, local: false, from: got.from };
  }

  async openWrite(writer: FileWriter, place: Parameters<FileWriter['openWrite']>[0], first: Fetched): Promise<{ blob: Buffer; plainLength: number }> {
    let fetched = first;
    const exclude = new Set<number>();
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await writer.openWrite(place, fetched.blob, fetched.length);
        if (fetched.local) this.local++;
        else this.fetched++;
        return r;
      } catch (err) {
        if (!(err instanceof P2pfxError) || err.code !== 'HASH_MISMATCH') throw err;
        if (fetched.local) await this.node.store.remove(fetched.id);
        else {
          const swarm = this.swarm!;
          if (swarm.hasOther(fetched.id, fetched.from)) {
            swarm.servedBad(fetched.from, fetched.id);
            exclude.add(fetched.from);
          } else if (attempt >= FETCH_ATTEMPTS) {
            throw new P2pfxError('HASH_MISMATCH', `peer ${swarm.label(fetched.from)} served chunk ${fetched.id} with bytes that do not match its id (asked ${FETCH_ATTEMPTS} times)`);
          }
        }
        fetched = await this.fromPeer(fetched.id, exclude);
      }
    }
  }

  private readonly afterChunk = collectEvery(8);

  private async fromPeer(id: string, exclude?: ReadonlySet<number>): Promise<Fetched> {
    if (this.swarm === null) throw new P2pfxError('CHUNK_NOT_FOUND', `chunk ${id} is not held here, and no peer was asked`);
    this.afterChunk();
    // Ring buffers own their whole ArrayBuffer: it moves to the worker entire.
    const { view, from } = await this.swarm.fetch(id, this.alloc, exclude);
    return { id, blob: Buffer.from(view.buffer as ArrayBuffer), length: view.length, local: false, from };
  }
}

