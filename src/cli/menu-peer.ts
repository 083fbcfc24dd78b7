// The menu's question for the peer. With peers in the book, they are listed by number, and the
// answer is a number, a name (or node id) from the book, or an address; with an empty book it is
// an address, as in the original. An address without a port is followed by the original's
// "Peer port" question, so that scripts typing host, then port, keep working; HOST:PORT skips it.
import { isIP } from 'node:net';
import { P2pfxError } from '../core/errors.js';
import { DEFAULT_PORT } from '../core/limits.js';
import { formatPeer, parsePeerText, type PeerAddress } from '../net/peer-address.js';
import { resolvePeers, type PeerTarget } from '../net/peers.js';
import { shortNodeId } from '../pki/node-id.js';
import type { BookPeer } from '../store/index-db.js';
import type { LocalNode } from '../store/local-node.js';
import { parsePort } from './context.js';
import { askUntil, type Prompter } from './prompt.js';

type Say = (text?: string) => void;

/** An address as typed, and whether it named the port. */
interface Typed { address: PeerAddress; portGiven: boolean }

/** Who the answer names: a peer of the book (its node id then required), or an address. */
type Pick = { book: PeerTarget } | { typed: Typed };

/** The peer the menu talks to; null at end of input. */
export async function askPeer(node: LocalNode, ask: Prompter, say: Say): Promise<PeerTarget | null> {
  const book = node.db.listPeers();
  if (book.length === 0) {
    const typed = await askUntil(ask, say, 'Peer address (IP or host name)', (text) => parsePeerText(text));
    return typed === null ? null : await withPort(ask, say, typed);
  }
  say('Peers in the book:');
  book.forEach((p, i) => say(`  ${i + 1}. ${p.name}  ${p.addresses[0] ? formatPeer(p.addresses[0]) : '(no known address)'}  node ${shortNodeId(p.nodeId)}`));
  const picked = await askUntil(ask, say, 'Peer (number or name from the list, or an address)', (text) => pick(node, book, text));
  if (picked === null) return null;
  if ('book' in picked) {
    say(`Peer ${picked.book.name ?? '?'} at ${formatPeer(picked.book.address)}, node ${picked.book.nodeId ?? '?'}.`);
    return picked.book;
  }
  // A mistyped name would otherwise fail later, as a host that cannot be found.
  const { host } = picked.typed.address;
  if (!picked.typed.portGiven && isIP(host) === 0 && !host.includes('.')) say(`No peer named ${JSON.stringify(host)} in the book: taken as a host name.`);
  return withPort(ask, say, picked.typed);
}

/** Throws INVALID_PEER (no such number, a bad address, a book peer without address), AMBIGUOUS_NAME. */
function pick(node: LocalNode, book: BookPeer[], text: string): Pick {
  // A number is the list's; beyond the list, it may still be a peer's name (names may be digits).
  if (/^\d+$/.test(text)) {
    const p = Number(text) >= 1 ? book[Number(text) - 1] : undefined;
    if (p !== undefined) return { book: resolvePeers(node, [p.nodeId])[0]! };
    if (!book.some((b) => b.name === text)) {
      throw new P2pfxError('INVALID_PEER', `no peer numbered ${text} in the list`, { hint: `Type ${book.length === 1 ? '1' : `a number from 1 to ${book.length}`}, a name from the list, or an address (HOST or HOST:PORT).` });
    }
  }
  const [target] = resolvePeers(node, [text]);
  if (target!.nodeId !== null) return { book: target! };
  return { typed: parsePeerText(text) };
}

/** The target at a typed address, asking for the port when the address named none. */
async function withPort(ask: Prompter, say: Say, typed: Typed): Promise<PeerTarget | null> {
  const target = (port: number): PeerTarget => ({ address: { host: typed.address.host, port }, nodeId: null, name: null });
  if (typed.portGiven) return target(typed.address.port);
  const port = await askUntil(ask, say, 'Peer port', parsePort, String(DEFAULT_PORT));
  return port === null ? null : target(port);
}
