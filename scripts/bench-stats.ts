// Summaries of repeated measurements.

export interface Spread { min: number; median: number; max: number }

export function spread(values: number[]): Spread {
  if (values.length === 0) throw new RangeError('no values to summarize');
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Plaintext megabytes (1e6) per second. */
export function mbps(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds;
}

export function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
