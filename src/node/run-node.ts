// Starts a node's API server on an address and reports where it listens.
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Manifest } from '../core/manifest.js';
import type { LocalNode } from '../store/local-node.js';
import { CryptoPool } from '../transfer/crypto-pool.js';
import { Inbox, type InboxEvent } from '../transfer/inbox.js';
import { joinLan, type LanEvent } from '../net/lan-peers.js';
import { listenOrExplain } from '../net/listen.js';
import { createNodeServer, type NodeServerOptions } from '../net/server.js';
import { formatPeer } from '../net/peer-address.js';
import { serverTlsOptions } from '../net/tls.js';
import { greetPeers, type GreetEvent } from './greet-peers.js';

export interface RunningNode {
  app: FastifyInstance;
  /** Reassembles files sent to this node, when started with `inbox`. */
  inbox: Inbox | null;
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface StartNodeOptions {
  host: string;
  port: number;
  logger?: NodeServerOptions['logger'];
  onManifest?: NodeServerOptions['onManifest'];
  /** Reassemble files sent to this node into its downloads folder (LocalNode.downloads), reporting each to onEvent. */
  inbox?: { onEvent?: (e: InboxEvent) => void };
  /** Announce this node on the LAN and add the peers heard (after a handshake) to the book. */
  lan?: { onEvent?: (e: LanEvent) => void };
  /** What peers' upload streams bring, as it lands (what `serve` shows). */
  onUpload?: NodeServerOptions['onUpload'];
  /** Say hello to the peers in the book once listening (node/greet-peers.ts), reporting each outcome. */
  greet?: { onEvent?: (e: GreetEvent) => void };
  /** Keep at most this many bytes of chunks (`serve --max-store`): past it, INSUFFICIENT_STORAGE before a chunk is written. */
  maxStoreBytes?: number;
}

export async function startNode(node: LocalNode, opts: StartNodeOptions): Promise<RunningNode> {
  if (opts.maxStoreBytes !== undefined) await node.store.limitTo(opts.maxStoreBytes);
  // Worker threads (made when first needed) that reassemble what is sent here and re-seal the
  // chunks of received files as peers ask for them, off the thread that serves.
  const pool = new CryptoPool();
  node.fileChunks.sealWith((args, out) => pool.sealOne(args, out));
  const inbox = opts.inbox ? new Inbox(node, opts.inbox.onEvent, pool) : null;
  const onManifest = (m: Manifest): void => {
    inbox?.offer(m);
    opts.onManifest?.(m);
  };
  let app: FastifyInstance;
  let port: number;
  try {
    app = await createNodeServer({ credentials: node.creds, store: node.store, db: node.db, revocation: node.revocation, logger: opts.logger ?? false, onManifest, ...(opts.onUpload ? { onUpload: opts.onUpload } : {}) });
    port = await listenOrExplain(app, opts.host, opts.port);
  } catch (err) {
    node.fileChunks.sealWith(null);
    await pool.close();
    throw err;
  }
  inbox?.catchUp();
  // A newer CRL (from a peer, or `certs revoke` in another process) applies to the next handshake.
  const stopFollowing = node.revocation.onChange(() => (app.server as unknown as TlsServer).setSecureContext(serverTlsOptions(node.creds)));
  const stopWatching = node.revocation.watch();
  const lan = opts.lan ? await joinLan(node, port, opts.lan.onEvent) : null;
  const greeting = opts.greet ? greetPeers(node, { port, host: opts.host, ...(opts.greet.onEvent ? { onEvent: opts.greet.onEvent } : {}) }) : null;
  const close = async (): Promise<void> => {
    await greeting?.stop();
    stopFollowing();
    stopWatching();
    await lan?.close();
    await app.close();
    await inbox?.close();
    node.fileChunks.sealWith(null);
    await pool.close();
  };
  return { app, inbox, host: opts.host, port, url: `https://${formatPeer({ host: opts.host, port })}`, close };
}
