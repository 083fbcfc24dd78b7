// `p2pfx peers` (the peer book, each peer checked), `peers add HOST[:PORT]`, `peers remove`,
// `peers discover`. A peer enters the book only through a mutual-TLS handshake that shows its
// node id (DESIGN "Trust"): an address or an announcement alone proves nothing.
import { P2pfxError, toP2pfxError } from '../../core/errors.js';
import { formatPeer, parsePeer } from '../../net/peer-address.js';
import { clientFor, confirmPeer, resolvePeers } from '../../net/peers.js';
import { normalizeNodeId } from '../../pki/node-id.js';
import type { BookPeer } from '../../store/index-db.js';
import type { LocalNode } from '../../store/local-node.js';
import { outFor, parseCount, withNode, type GlobalOptions } from '../context.js';
import { printable } from '../output.js';

/** How long `peers` waits for each peer's answer when it checks who is reachable. */
const CHECK_TIMEOUT_MS = 3000;

export async function peersListCommand(g: GlobalOptions, opts: { check?: boolean }): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const book = node.db.listPeers();
    const status = opts.check === false ? book.map(() => null) : await Promise.all(book.map((p) => reachable(node, p)));
    if (out.json) return out.data({ peers: book.map((p, i) => ({ ...p, reachable: status[i] === null ? null : status[i] === 'ok', problem: status[i] === 'ok' ? null : status[i] })) });
    if (book.length === 0) {
      out.line('The peer book is empty. Add a peer with `p2pfx peers add HOST[:PORT]`, or find them with `p2pfx peers discover`.');
      return;
    }
    for (const [i, p] of book.entries()) {
      const a = p.addresses[0];
      const state = status[i] === null ? '' : status[i] === 'ok' ? '  reachable' : `  unreachable (${status[i]})`;
      out.line(`${printable(p.name).padEnd(16)} ${p.nodeId}  ${a ? formatPeer(a) : '?'}  ${p.source}, seen ${p.lastSeen.slice(0, 19).replace('T', ' ')}${state}`);
    }
  });
}

export async function peersAddCommand(g: GlobalOptions, address: string): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const peer = await confirmPeer(node, parsePeer(address), { source: 'added' });
    if (out.json) return out.data({ peer });
    out.line(`Added ${printable(peer.name)}, node ${peer.nodeId}, at ${formatPeer(peer.addresses[0]!)}`);
    out.line('Compare that id with what `p2pfx id` prints on that machine.');
  });
}

export async function peersRemoveCommand(g: GlobalOptions, which: string): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const target = bookEntry(node, which);
    node.db.removePeer(target.nodeId);
    if (out.json) return out.data({ removed: { nodeId: target.nodeId, name: target.name } });
    out.line(`Removed ${printable(target.name)} (${target.nodeId}) from the peer book.`);
  });
}

export async function peersDiscoverCommand(g: GlobalOptions, opts: { seconds?: string }): Promise<void> {
  const out = outFor(g);
  const seconds = opts.seconds === undefined ? 3 : parseCount(opts.seconds, '--seconds', 60);
  await withNode(g, async (node) => {
    const { listenForHints } = await import('../../net/discovery.js');
    const hints = await listenForHints({ nodeId: node.creds.nodeId, durationMs: seconds * 1000 });
    const found: BookPeer[] = [];
    const refused: Array<{ host: string; port: number; claimed: string; code: string; message: string }> = [];
    await Promise.all(hints.filter((h) => h.nodeId !== node.creds.nodeId).map(async (h) => {
      try {
        found.push(await confirmPeer(node, { host: h.host, port: h.port }, { expectNodeId: h.nodeId, source: 'discovered', timeoutMs: CHECK_TIMEOUT_MS }));
      } catch (err) {
        const e = toP2pfxError(err);
        refused.push({ host: h.host, port: h.port, claimed: h.nodeId, code: e.code, message: e.message });
      }
    }));
    if (out.json) return out.data({ seconds, found, refused });
    if (found.length === 0 && refused.length === 0) out.line(`No p2pfx node announced itself on the LAN in ${seconds} s.`);
    for (const p of found) out.line(`Found ${printable(p.name)}, node ${p.nodeId}, at ${formatPeer(p.addresses[0]!)} (handshake checked; in the peer book)`);
    for (const r of refused) out.line(`Ignored an announcement from ${formatPeer(r)} claiming ${printable(r.claimed)}: ${r.code}: ${printable(r.message)}`);
  });
}

function bookEntry(node: LocalNode, which: string): BookPeer {
  let id: string | null = null;
  try {
    id = normalizeNodeId(which);
  } catch {
    // a name
  }
  const book = node.db.listPeers();
  const matches = book.filter((p) => (id !== null ? p.nodeId === id : p.name === which));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} peers are named ${JSON.stringify(which)}: ${matches.map((m) => m.nodeId).join(', ')}`, { hint: 'Use the node id.' });
  throw new P2pfxError('INVALID_PEER', `no peer ${JSON.stringify(which)} in the peer book`, { hint: 'List the book with `p2pfx peers`.' });
}

/** 'ok', or the code of what went wrong, within CHECK_TIMEOUT_MS. */
async function reachable(node: LocalNode, p: BookPeer): Promise<string> {
  const [target] = resolvePeers(node, [p.nodeId]);
  const client = clientFor(node, target!, { connections: 1, connectTimeoutMs: CHECK_TIMEOUT_MS, idleTimeoutMs: CHECK_TIMEOUT_MS });
  try {
    await client.health();
    node.db.notePeer({ nodeId: p.nodeId, name: p.name, host: target!.address.host, port: target!.address.port, source: p.source });
    return 'ok';
  } catch (err) {
    return toP2pfxError(err).code;
  } finally {
    await client.close();
  }
}
