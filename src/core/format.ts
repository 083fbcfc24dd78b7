// How sizes are written, by the CLI and by the web UI alike (the page bundles this file):
// binary units, one decimal below 100.

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

/**
 * A transfer's speed in the same units as its sizes (MiB/s), or null when nothing moved: a resend
 * that found every chunk already there has no speed to show.
 */
export function formatRate(bytesMoved: number, seconds: number): string | null {
  if (bytesMoved <= 0) return null;
  return `${(bytesMoved / 1048576 / Math.max(seconds, 1e-3)).toFixed(1)} MiB/s`;
}
