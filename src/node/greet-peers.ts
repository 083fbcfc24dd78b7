// `serve`, once it listens, says hello to the peers in its book (POST /v1/peers/hello): each
// records this node at the address it sees and the port served now, so a node that moved or
// came back on another port is learned again without multicast. In the background and best
// effort: a few peers at a time, one try each with a short timeout, and nothing here can fail
// `serve` (the outcome of each is only reported).
import { toP2pfxError } from '../core/errors.js';
import { clientFor, helloBody, type PeerTarget } from '../net/peers.js';
import type { LocalNode } from '../store/local-node.js';

/** Hellos under way at once. */
export const GREET_CONCURRENCY = 4;
/** How long one peer may take to answer (connection included). */
export const GREET_TIMEOUT_MS = 3000;
/** Peers greeted at most, the most recently seen first. */
export const MAX_GREETED = 256;

export type GreetEvent =
  | { type: 'greeted'; nodeId: string; name: string; host: string; port: number }
  | { type: 'greet-failed'; nodeId: string; name: string; host: string; port: number; code: string; message: string };

export interface Greeting {
  /** Settles once every peer was greeted or failed (never rejects). */
  done: Promise<void>;
  /** No further hellos; those under way are cut. Resolves once all have ended. */
  stop(): Promise<void>;
}

export interface GreetOptions {
  /** The port this node's API listens on now. */
  port: number;
  /** The address it listens on: bound to loopback, only peers on this machine could reach it. */
  host: string;
  onEvent?: (e: GreetEvent) => void;
  concurrency?: number;
  timeoutMs?: number;
}

export function greetPeers(node: LocalNode, opts: GreetOptions): Greeting {
  const onEvent = opts.onEvent ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? GREET_TIMEOUT_MS;
  const queue = targets(node, opts.host);
  const cut = new AbortController();
  let stopped = false;
  const greetOne = async (t: PeerTarget): Promise<void> => {
    const client = clientFor(node, t, { connections: 1, connectTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs, signal: cut.signal });
    const what = { nodeId: t.nodeId!, name: t.name ?? '', host: t.address.host, port: t.address.port };
    try {
      await client.hello(helloBody(node, opts.port));
      if (!stopped) onEvent({ type: 'greeted', ...what });
    } catch (err) {
      const e = toP2pfxError(err);
      if (!stopped) onEvent({ type: 'greet-failed', ...what, code: e.code, message: e.message });
    } finally {
      await client.close().catch(() => undefined);
    }
  };
  const worker = async (): Promise<void> => {
    for (let t = queue.shift(); t !== undefined && !stopped; t = queue.shift()) await greetOne(t);
  };
  const done = Promise.all(Array.from({ length: Math.min(opts.concurrency ?? GREET_CONCURRENCY, queue.length) }, worker)).then(() => undefined, () => undefined);
  return {
    done,
    async stop() {
      stopped = true;
      cut.abort();
      await done;
    },
  };
}

/** The book's peers at their last address, the most recently seen first. */
function targets(node: LocalNode, host: string): PeerTarget[] {
  const local = isLoopback(host);
  return node.db.listPeers()
    .filter((p) => p.nodeId !== node.creds.nodeId && p.addresses[0] !== undefined && (!local || isLoopback(p.addresses[0].host)))
    .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen))
    .slice(0, MAX_GREETED)
    .map((p) => ({ address: { host: p.addresses[0]!.host, port: p.addresses[0]!.port }, nodeId: p.nodeId, name: p.name }));
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
