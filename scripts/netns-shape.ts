// Link speeds for the LAN of scripts/netns.ts, with `tc` (iproute2): a token bucket (tbf) as the
// root qdisc of one veth end. A qdisc shapes what LEAVES an interface, so
//   - a host's eth0 (in the host's namespace) limits what the host sends: its upload;
//   - a bridge port v<i> (in the bridge's namespace) limits what the bridge hands to host i: its
//     download (shaping a host's own ingress would need an ifb device; this needs nothing).
// Only the namespaces' own interfaces are ever touched (`tc -n NS`), never the machine's.
import { run } from './netns.js';

/** A rate in bits per second, decimal as tc's own units: 100mbit = 100e6 bit/s = 12.5 MB/s. */
export type BitsPerSecond = number;

/**
 * "100mbit", "50Mbit", "1gbit", "500kbit", "2.5mbit", "1000000bit": tc's bit units only. tc reads
 * "mbps" as megaBYTES per second, a trap: refused, with the right spelling.
 */
export function parseRate(text: string, what = '--rate'): BitsPerSecond {
  const m = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)$/i.exec(text.trim());
  const scale = m ? { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2]!.toLowerCase() as 'bit' | 'kbit' | 'mbit' | 'gbit'] : 0;
  const bits = m ? Number(m[1]) * scale : 0;
  if (!(bits >= 8_000)) throw new Error(`${what}: not a rate of at least 8kbit: ${JSON.stringify(text)} (examples: 100mbit, 50mbit, 1gbit; tc's "mbps" would be megabytes, so use mbit)`);
  return Math.round(bits);
}

/** "100 Mbit/s" */
export function formatRate(bits: BitsPerSecond): string {
  if (bits >= 1e9 && bits % 1e7 === 0) return `${bits / 1e9} Gbit/s`;
  if (bits >= 1e6) return `${+(bits / 1e6).toFixed(2)} Mbit/s`;
  return `${+(bits / 1e3).toFixed(2)} kbit/s`;
}

/** The MB/s (1e6 bytes) a link of this rate carries, every header included. */
export function rateMBps(bits: BitsPerSecond): number {
  return bits / 8 / 1e6;
}

/**
 * Makes `dev` (in namespace `ns`) send at most `bits` per second: tbf, replacing whatever root
 * qdisc it had. The bucket holds at least 128 KiB (whole 64 KiB GSO packets pass without being
 * cut up, and the timer's granularity does not cost speed) or 5 ms at the rate; 50 ms of queue
 * past it (TCP's small-queue limit keeps a flow's backlog well under that).
 */
export async function limitEgress(ns: string, dev: string, bits: BitsPerSecond): Promise<void> {
  const burstBytes = Math.max(128 * 1024, Math.ceil((bits / 8) * 0.005));
  await tc(ns, ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${bits}bit`, 'burst', `${burstBytes}b`, 'latency', '50ms']);
}

/** Back to the interface's default (no qdisc of ours); nothing to do when there was none. */
export async function clearEgress(ns: string, dev: string): Promise<void> {
  const r = await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root']);
  // "Cannot delete qdisc with handle of zero": the default was there already.
  if (r.code !== 0 && !/handle of zero|No such file/i.test(r.stderr)) throw new Error(`tc -n ${ns} qdisc del dev ${dev} root failed: ${r.stderr.trim()}`);
}

/** Bytes the root qdisc of `dev` has sent since it was made (from `tc -s`); 0 without one of ours. */
export async function egressSentBytes(ns: string, dev: string): Promise<number> {
  const r = await run('tc', ['-n', ns, '-s', 'qdisc', 'show', 'dev', dev]);
  if (r.code !== 0) throw new Error(`tc -n ${ns} -s qdisc show dev ${dev} failed: ${r.stderr.trim()}`);
  const tbf = /qdisc tbf [\s\S]*?Sent (\d+) bytes/.exec(r.stdout);
  return tbf ? Number(tbf[1]) : 0;
}

/** null when `tc` can be run, or why not. */
export async function tcUnavailable(): Promise<string | null> {
  const r = await run('tc', ['-V']);
  return r.code === 0 ? null : `iproute2's \`tc\` is not usable (${r.stderr.trim() || 'not found'}); install it (apt-get install -y iproute2)`;
}

async function tc(ns: string, args: string[]): Promise<void> {
  const r = await run('tc', ['-n', ns, ...args]);
  if (r.code !== 0) throw new Error(`tc -n ${ns} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
}
