// A limit on the bytes of chunks a node keeps (`serve --max-store`): room is taken for a chunk
// before any of its bytes are written, and given back for what was not kept. Chunks written at
// the same time each hold their room, so together they never pass the limit. The hint of the
// refusal is INSUFFICIENT_STORAGE's own (it travels to the sender as a code and a message).
import { P2pfxError } from '../core/errors.js';
import { formatBytes } from '../core/format.js';

export interface Room {
  /** The chunk is done: `keptBytes` of it stay in the store (0 when it was refused or already held). */
  settle(keptBytes: number): void;
}

export class StoreQuota {
  private used = 0;
  private reserved = 0;
  private recounting: Promise<void> | null = null;
  private keptDuringCount = 0;

  /** `count` says how many bytes the store holds now, read from the disk. */
  constructor(readonly limit: number, private readonly count: () => Promise<number>) {}

  /**
   * Room for a chunk of up to `bytes`, or INSUFFICIENT_STORAGE before anything is written. The
   * bytes held are counted again from the disk before a refusal: another process (`p2pfx prune`,
   * `p2pfx rm`) may have freed room since this one last looked.
   */
  async admit(id: string, bytes: number): Promise<Room> {
    if (!this.fits(bytes)) await this.recount();
    if (!this.fits(bytes)) {
      throw new P2pfxError('INSUFFICIENT_STORAGE', `chunk ${id} (${formatBytes(bytes)}) would take this node past its store limit of ${formatBytes(this.limit)} (serve --max-store); ${formatBytes(this.used)} are held`);
    }
    this.reserved += bytes;
    let settled = false;
    return {
      settle: (keptBytes) => {
        if (settled) return;
        settled = true;
        this.reserved -= bytes;
        this.used += keptBytes;
        this.keptDuringCount += keptBytes;
      },
    };
  }

  /** A chunk of `bytes` left the store. */
  removed(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** Counts the bytes held from the disk (one count at a time; callers meanwhile share it). */
  recount(): Promise<void> {
    if (this.recounting === null) {
      // Chunks kept while the disk is read may or may not be in its count: added again, so the
      // count errs on the side of too much (a refusal), never too little (past the limit).
      this.keptDuringCount = 0;
      this.recounting = this.count().then((bytes) => {
        this.used = bytes + this.keptDuringCount;
      }).finally(() => {
        this.recounting = null;
      });
    }
    return this.recounting;
  }

  private fits(bytes: number): boolean {
    return this.used + this.reserved + bytes <= this.limit;
  }
}
