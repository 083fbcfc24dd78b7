// Numbers and dates as the CLI prints them (sizes in KiB/MiB/GiB, speeds in MiB/s).

// The same sizes as the CLI prints: one function for both.
export { formatBytes } from '../../src/core/format.js';

/** A date from the API: an ISO string, or milliseconds (or seconds) since the epoch. */
export function toDate(v: string | number | null | undefined): Date | null {
  if (v === null || v === undefined || v === '') return null;
  const d = typeof v === 'number' ? new Date(v < 1e12 ? v * 1000 : v) : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** 2026-11-25 17:54, local time. */
export function formatDate(v: string | number | null | undefined): string {
  const d = toDate(v);
  if (!d) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function isoDate(v: string | number | null | undefined): string | undefined {
  return toDate(v)?.toISOString();
}

/** 5 s, 2 min 05 s, 1 h 02 min. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

export function formatSpeed(mibPerSecond: number | null | undefined): string {
  if (mibPerSecond === null || mibPerSecond === undefined || !Number.isFinite(mibPerSecond)) return '—';
  return `${mibPerSecond >= 100 ? mibPerSecond.toFixed(0) : mibPerSecond.toFixed(1)} MiB/s`;
}

/** 0–100, whole numbers; 100 only when everything is done. */
export function percent(done: number, total: number): number {
  if (total <= 0) return done > 0 ? 100 : 0;
  const p = Math.floor((done / total) * 100);
  return Math.max(0, Math.min(100, p));
}

/** The first group of a node id (ABCDEFG-HIJKLMN-… → ABCDEFG). */
export function shortId(nodeId: string): string {
  return nodeId.split('-')[0] ?? nodeId;
}

/** Control characters and bidirectional overrides made visible, as the CLI prints names. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
