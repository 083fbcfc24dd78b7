// What this machine is called and where peers can reach it: the defaults of `p2pfx certs` (its own
// certificate) and `p2pfx join` (the certificate it asks the CA for).
import { hostname, networkInterfaces } from 'node:os';

/** Every address of this machine's interfaces that a peer could dial (not link-local v6), loopback first. */
export function localAddresses(): string[] {
  const out = ['127.0.0.1', '::1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue;
      out.push(a.address);
    }
  }
  return out;
}

/** The host name and, for a bare one, its .local (mDNS) name; none when it is not a DNS name. */
export function hostDns(): string[] {
  const h = hostname();
  return /^[A-Za-z0-9.-]{1,253}$/.test(h) ? [h, ...(h.includes('.') ? [] : [`${h}.local`])] : [];
}

/** The host name's first label when it makes a valid node name (1..64 of [A-Za-z0-9._-]), else "node". */
export function defaultNodeName(): string {
  const h = hostname().split('.')[0] ?? 'node';
  return /^[A-Za-z0-9._-]{1,64}$/.test(h) ? h : 'node';
}

/** The list without repeats, first occurrence kept. */
export function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** The address a machine on the LAN would dial to reach this one (first non-internal IPv4). */
export function lanAddress(): string {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []).filter((a) => !a.internal);
  const v4 = all.find((a) => a.family === 'IPv4');
  if (v4) return v4.address;
  const v6 = all.find((a) => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80'));
  return v6?.address ?? hostname();
}
