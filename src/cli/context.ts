// What every command shares: the global options, the node's home, a client for --peer.
import { P2pfxError } from '../core/errors.js';
import { KiB, MiB, GiB } from '../core/limits.js';
import type { PeerClient, PeerClientOptions } from '../net/client.js';
import { clientFor, resolvePeers } from '../net/peers.js';
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { HOME_ENV, Home, defaultHome, type ResolvedHome } from '../store/home.js';
import { LocalNode } from '../store/local-node.js';
import { makeOut, type Out } from './output.js';

export interface GlobalOptions { home?: string; json?: boolean; debug?: boolean }

export function outFor(g: GlobalOptions): Out {
  return makeOut(g);
}

/** The node's home, as Home.resolve decides; a home found in the current folder (the old default) is said once on stderr. */
export function homeFor(g: GlobalOptions, opts: { quiet?: boolean } = {}): Home {
  const { home, source } = resolveHomeFor(g);
  if (source === 'legacy-cwd' && !opts.quiet && !legacyNoted) {
    legacyNoted = true;
    outFor(g).note(legacyHomeNote(home));
  }
  return home;
}

/** The node's home and where it came from (`p2pfx doctor` says which). */
export function resolveHomeFor(g: GlobalOptions): ResolvedHome {
  // --home was checked as it was parsed; $P2PFX_HOME is checked here, the same way.
  if (g.home === undefined && process.env[HOME_ENV] !== undefined) checkHomeFolder(process.env[HOME_ENV]!, `$${HOME_ENV}`);
  return Home.resolve(g.home);
}

let legacyNoted = false;

function legacyHomeNote(home: Home): string {
  const fallback = defaultHome(process.env, process.platform, homedir());
  return `note: using the p2pfx home in the current folder ${home.root} (the default up to p2pfx 0.1); to use it from anywhere, move it to ${fallback} or set ${HOME_ENV}=${home.root}`;
}

/** A home is a folder, or a path where none is yet; a file (or a path through one) is refused before anything opens it. */
export function checkHomeFolder(value: string, what = '--home'): string {
  let folder: boolean;
  try {
    folder = statSync(value).isDirectory();
  } catch (err) {
    folder = (err as NodeJS.ErrnoException).code !== 'ENOTDIR';
  }
  if (!folder) throw new P2pfxError('INVALID_ARGUMENT', `${what} ${JSON.stringify(value)} is not a folder`, { hint: 'Give the node\'s home folder (it is made if it does not exist).' });
  return value;
}

/** Opens the node's home for the length of `fn`, and closes it whatever happens. */
export async function withNode<T>(g: GlobalOptions, fn: (node: LocalNode) => Promise<T>): Promise<T> {
  return withNodeFor(g, {}, fn);
}

/** withNode, with `serve --downloads` (which wins over $P2PFX_DOWNLOADS and the home's setting). */
export async function withNodeFor<T>(g: GlobalOptions, opts: { downloads?: string | undefined }, fn: (node: LocalNode) => Promise<T>): Promise<T> {
  const node = await LocalNode.open(homeFor(g), opts);
  try {
    return await fn(node);
  } finally {
    node.close();
  }
}

/** A client for the one --peer the user typed (an address, or a name or id from the peer book), closed after `fn`. */
export async function withPeer<T>(node: LocalNode, peer: string | undefined, fn: (client: PeerClient) => Promise<T>, opts: PeerClientOptions = {}): Promise<T> {
  if (peer === undefined) throw new P2pfxError('INVALID_ARGUMENT', 'this command needs --peer HOST[:PORT] (or a peer\'s name or id from `p2pfx peers`)');
  const [target] = resolvePeers(node, [peer]);
  const client = clientFor(node, target!, opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/**
 * Clients for the --peer values typed (addresses, or names or ids from the peer book), or for
 * every peer in the book when none was; all closed after `fn`.
 */
export async function withPeers<T>(node: LocalNode, peers: readonly string[] | undefined, fn: (clients: PeerClient[]) => Promise<T>, opts: PeerClientOptions = {}): Promise<T> {
  const clients = resolvePeers(node, peers).map((target) => clientFor(node, target, opts));
  try {
    return await fn(clients);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** Parses sizes such as 1048576, 512K, 4M, 4MiB, 1G. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new P2pfxError('INVALID_ARGUMENT', `not a size: ${JSON.stringify(text)} (examples: 1048576, 512K, 4M)`);
  const unit = { '': 1, k: KiB, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

export function parseCount(text: string, what: string, max = 256): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) throw new P2pfxError('INVALID_ARGUMENT', `${what} must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new P2pfxError('INVALID_ARGUMENT', `port must be a number from 0 to 65535, got ${JSON.stringify(text)}`);
  return n;
}

/** Errors that end a command the user interrupted (Ctrl-C): the CLI exits 130 after saying them. */
export const interrupted = new WeakSet<object>();

/**
 * Runs a transfer that the first Ctrl-C stops between chunks (a second one kills the process as
 * usual): what was done is kept, and the error says that running the same command resumes.
 */
export async function withInterrupt<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (!controller.signal.aborted || !(err instanceof P2pfxError) || err.code !== 'CANCELLED') throw err;
    const e = new P2pfxError('CANCELLED', `${what} interrupted (Ctrl-C): ${err.message}`, {
      cause: err, hint: 'Run the same command again: it resumes where it stopped, keeping what was already transferred and checked.',
    });
    interrupted.add(e);
    throw e;
  } finally {
    process.off('SIGINT', stop);
  }
}
