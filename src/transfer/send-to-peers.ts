// The send use case, whoever asks (the CLI, the menu, the UI): a file or a folder to one or more
// peers. What is sent is decided once (file or folder), the recipients are gathered once (so one
// manifest names them all and each can open it), and each peer gets its own result: a peer that
// fails never stops the others, unless what failed is the command or this machine (the same for
// every peer: core/errors.ts failsEveryPeer).
import { stat } from 'node:fs/promises';
import { failsEveryPeer, toP2pfxError, type P2pfxError } from '../core/errors.js';
import type { PeerClient, Recipient } from '../net/client.js';
import type { LocalNode } from '../store/local-node.js';
import { sendFolder, type SendFolderResult } from './folder-send.js';
import { resolveSourceFile } from './local-file.js';
import type { ProgressListener } from './progress.js';
import { sendFileToMany, type SendResult } from './send.js';

export interface SendToPeersOptions {
  node: LocalNode;
  clients: readonly PeerClient[];
  /** A file or a folder. */
  path: string;
  password?: string | undefined;
  chunkSize?: number | undefined;
  concurrency?: number | undefined;
  /** The peers store the chunks without a key of their own (no envelope for them). */
  storageOnly?: boolean;
  signal?: AbortSignal;
  /** Progress of the send to `client` (called once per peer, before its send starts). */
  progressFor?: (client: PeerClient) => ProgressListener | undefined;
}

/** One peer's outcome: what was sent (a file or a folder) and how long it took, or why not. */
export type PeerSend =
  | { client: PeerClient; ok: true; seconds: number; file: SendResult; folder?: undefined }
  | { client: PeerClient; ok: true; seconds: number; folder: SendFolderResult; file?: undefined }
  | { client: PeerClient; ok: false; error: P2pfxError };

/** Whether `path` names a folder (anything else must be a readable regular file: checked here). */
export async function isFolderSource(path: string): Promise<boolean> {
  if (await stat(path).then((st) => st.isDirectory(), () => false)) return true;
  await resolveSourceFile(path);
  return false;
}

/**
 * Sends `path` to every client: a file to all of them at once (read and sealed once: send.ts
 * sendFileToMany), a folder to one after the other. Resolves with one result per peer (in the
 * clients' order) once each has its file or its error; throws at once on a failure of the command
 * or of this machine, and on any failure when there is a single peer.
 */
export async function sendToPeers(opts: SendToPeersOptions): Promise<PeerSend[]> {
  const { node, clients } = opts;
  const folder = await isFolderSource(opts.path);
  if (!folder) {
    const outcomes = await sendFileToMany({
      node, clients, path: opts.path, chunkSize: opts.chunkSize, concurrency: opts.concurrency, password: opts.password,
      peerKey: !opts.storageOnly, progressFor: opts.progressFor, signal: opts.signal,
    });
    return outcomes.map((o) => (o.ok ? { client: o.client, ok: true, file: o.result, seconds: o.seconds } : o));
  }
  // Every recipient is known before the first byte leaves, so one manifest can name them all.
  const asked = opts.storageOnly ? clients.map(() => null) : await Promise.allSettled(clients.map((c) => c.recipient()));
  const recipients: Recipient[] = asked.flatMap((r) => (r !== null && r.status === 'fulfilled' ? [r.value] : []));
  const runs: PeerSend[] = [];
  for (const [i, client] of clients.entries()) {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const ask = asked[i];
      if (ask && ask.status === 'rejected') throw ask.reason;
      const common = {
        node, client, chunkSize: opts.chunkSize, concurrency: opts.concurrency, password: opts.password, peerKey: !opts.storageOnly,
        recipients: recipients.filter((r) => r.nodeId !== client.nodeId), onProgress: opts.progressFor?.(client), signal: opts.signal,
      };
      runs.push({ client, ok: true, folder: await sendFolder({ ...common, dir: opts.path }), seconds: seconds() });
    } catch (err) {
      const e = toP2pfxError(err);
      if (clients.length === 1 || failsEveryPeer(e)) throw err;
      runs.push({ client, ok: false, error: e });
    }
  }
  return runs;
}
