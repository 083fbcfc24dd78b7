// The seeded generator of the fuzz tests: every case follows from one seed, printed with each
// failure, and P2PFX_FUZZ_SEED=N replays the same cases.
import { randomBytes } from 'node:crypto';

/** mulberry32: a small, fast, well-mixed 32-bit generator; the same seed gives the same stream. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  /** lo ≤ n ≤ hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** n of the items, distinct, in a seeded order (all of them when n ≥ their number). */
  sample<T>(items: readonly T[], n: number): T[] {
    const pool = [...items];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, n);
  }
  hex(length: number): string {
    let s = '';
    for (let i = 0; i < length; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
  bytes(length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) b[i] = this.int(256);
    return b;
  }
}

/** P2PFX_FUZZ_SEED when given (a replay), else a fresh one. */
export function fuzzSeed(): number {
  const text = process.env.P2PFX_FUZZ_SEED;
  if (text === undefined || text === '') return randomBytes(4).readUInt32BE(0);
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) throw new Error(`P2PFX_FUZZ_SEED must be a whole number from 0 to 4294967295, got ${JSON.stringify(text)}`);
  return Number(text);
}

