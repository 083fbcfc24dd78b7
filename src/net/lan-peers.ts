// A serving node on the LAN: it announces itself, and turns the announcements it hears into peer
// book entries — but only after a mutual-TLS handshake at the announced address shows the
// announced node id. An announcement alone changes nothing (anyone can send one).
import { toP2pfxError } from '../core/errors.js';
import type { BookPeer } from '../store/index-db.js';
import type { LocalNode } from '../store/local-node.js';
import { startDiscovery, type DiscoveryError, type Hint } from './discovery.js';
import { formatPeer } from './peer-address.js';
import { confirmPeer } from './peers.js';

/** An address is dialled again for the same node id at most this often once it answered. */
const RECHECK_MS = 60_000;
/**
 * After a handshake that failed (a busy or starting peer, a lost packet), the next announcement
 * from this long on is followed, doubling with each failure in a row up to RECHECK_MS.
 */
const RETRY_MS = 5_000;
/** How long a handshake with an announced address may take. */
const CONFIRM_TIMEOUT_MS = 3000;
/** Distinct addresses remembered, so forged announcements cannot grow memory without bound. */
const MAX_REMEMBERED = 1024;

export type LanEvent =
  | { type: 'peer'; peer: BookPeer; host: string; port: number }
  | { type: 'ignored'; host: string; port: number; claimed: string; code: string; message: string }
  | { type: 'discovery-error'; stage: string; message: string };

export interface LanPresence { close(): Promise<void> }

/** When an announced address may be dialled again, and how many handshakes with it failed in a row. */
interface Attempt { next: number; failures: number }

export async function joinLan(node: LocalNode, port: number, onEvent: (e: LanEvent) => void = () => undefined): Promise<LanPresence> {
  const attempts = new Map<string, Attempt>();
  const onHint = (h: Hint): void => {
    if (h.nodeId === node.creds.nodeId) return;
    const key = `${h.nodeId} ${formatPeer(h)}`;
    const last = attempts.get(key);
    if (last !== undefined && last.next > Date.now()) return;
    if (last === undefined && attempts.size >= MAX_REMEMBERED) attempts.delete(attempts.keys().next().value!);
    // No second handshake with the same address while this one is under way.
    const attempt: Attempt = { next: Infinity, failures: last?.failures ?? 0 };
    attempts.set(key, attempt);
    void confirmPeer(node, { host: h.host, port: h.port }, { expectNodeId: h.nodeId, source: 'discovered', timeoutMs: CONFIRM_TIMEOUT_MS }).then(
      (peer) => {
        attempt.failures = 0;
        attempt.next = Date.now() + RECHECK_MS;
        onEvent({ type: 'peer', peer, host: h.host, port: h.port });
      },
      (err: unknown) => {
        attempt.failures += 1;
        attempt.next = Date.now() + Math.min(RECHECK_MS, RETRY_MS * 2 ** (attempt.failures - 1));
        const e = toP2pfxError(err);
        onEvent({ type: 'ignored', host: h.host, port: h.port, claimed: h.nodeId, code: e.code, message: e.message });
      },
    );
  };
  const onError = (err: DiscoveryError): void => onEvent({ type: 'discovery-error', stage: err.stage, message: err.message });
  const discovery = await startDiscovery({ nodeId: node.creds.nodeId, name: node.creds.name, port, onHint, onError });
  return { close: () => discovery.close() };
}
