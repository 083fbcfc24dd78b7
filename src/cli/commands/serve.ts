import { spawn } from 'node:child_process';
import { P2pfxError } from '../../core/errors.js';
import { startNode } from '../../node/run-node.js';
import { isLoopback, type GreetEvent } from '../../node/greet-peers.js';
import type { UiServer } from '../../ui/server.js';
import { shortNodeId } from '../../pki/node-id.js';
import type { InboxEvent } from '../../transfer/inbox.js';
import type { LanEvent } from '../../net/lan-peers.js';
import type { UploadActivity } from '../../net/bulk-server.js';
import { formatPeer } from '../../net/peer-address.js';
import { formatBytes, printable } from '../output.js';
import { ensureDownloads, legacyDownloadsNote } from '../../store/downloads.js';
import { outFor, parsePort, parseSize, withNodeFor, type GlobalOptions } from '../context.js';

export interface ServeOptions { port: string; host: string; discovery?: boolean; ui?: boolean; uiPort?: string; open?: boolean; maxStore?: string; downloads?: string }

/** Runs the node until SIGINT or SIGTERM. */
export async function serveCommand(g: GlobalOptions, opts: ServeOptions): Promise<void> {
  const out = outFor(g);
  if (opts.downloads === '') throw new P2pfxError('INVALID_ARGUMENT', '--downloads needs a folder');
  await withNodeFor(g, { downloads: opts.downloads }, async (node) => {
    // Made (0700) and checked before the node listens: a folder it cannot write is said now, not at the first file.
    await ensureDownloads(node.downloads);
    let ui: UiServer | null = null;
    const onEvent = (e: InboxEvent): void => {
      ui?.onInbox(e);
      if (out.json) return out.data({ event: e.type, ...e });
      const from = `${e.senderName ? printable(e.senderName) : 'a node'} (${shortNodeId(e.sender)})`;
      if (e.type === 'received') {
        const what = e.kind === 'folder' ? `folder ${printable(e.name)} (${e.files} files, ${e.dirs} folders, ${formatBytes(e.size)})` : `${printable(e.name)} (${formatBytes(e.size)})`;
        // A newer version replaced the earlier one, or landed beside a copy edited here.
        const how = e.kind === 'file' && e.updated ? ' (a newer version: it replaced the earlier one)'
          : e.kind === 'file' && e.keptLocalEdit ? ` (a newer version; ${printable(e.name)} here was edited since it was received, so it was kept)`
          : e.kind === 'folder' && e.updated ? ' (a newer version of the folder: updated in place)' : '';
        out.line(`received ${what} from ${from} → ${printable(e.path)}${how}`);
      }
      else out.line(`could not reassemble file ${e.fileId} from ${from}: ${e.code}: ${printable(e.message)}`);
    };
    const onUpload = uploadReporter(out);
    const onLan = (e: LanEvent): void => {
      if (out.json) return out.data(e.type === 'peer' ? { event: 'peer', nodeId: e.peer.nodeId, name: e.peer.name, host: e.host, port: e.port } : { event: e.type, ...e });
      if (e.type === 'peer') out.line(`peer ${printable(e.peer.name)} (${shortNodeId(e.peer.nodeId)}) at ${formatPeer(e)}: handshake checked, in the peer book`);
      else if (e.type === 'ignored') out.line(`ignored an announcement from ${formatPeer(e)}: ${e.code}: ${printable(e.message)}`);
      else out.note(`LAN discovery (${e.stage}): ${printable(e.message)}`);
    };
    // Hellos to the book's peers are quiet: a peer that is away now is no news (--debug shows each).
    const onGreet = (e: GreetEvent): void => {
      if (!g.debug) return;
      const who = `${printable(e.name)} (${shortNodeId(e.nodeId)}) at ${formatPeer(e)}`;
      out.note(e.type === 'greeted' ? `told ${who} where this node serves` : `could not tell ${who} where this node serves: ${e.code}: ${printable(e.message)}`);
    };
    const running = await startNode(node, {
      host: opts.host, port: parsePort(opts.port), logger: g.debug ? { level: 'info' } : false, inbox: { onEvent }, onUpload, greet: { onEvent: onGreet },
      ...(opts.maxStore === undefined ? {} : { maxStoreBytes: parseStoreLimit(opts.maxStore) }),
      // A node bound to loopback has nobody on the LAN to meet: it announces nothing.
      ...(opts.discovery === false || isLoopback(opts.host) ? {} : { lan: { onEvent: onLan } }),
    });
    try {
      if (opts.ui) {
        const { startUiServer } = await import('../../ui/server.js');
        ui = await startUiServer({ node, serving: { host: running.host, port: running.port }, port: opts.uiPort === undefined ? 0 : parsePort(opts.uiPort), logger: g.debug ? { level: 'info' } : false });
      }
    } catch (err) {
      await running.close();
      throw err;
    }
    const { downloads } = node;
    if (out.json) out.data({ listening: running.url, host: running.host, port: running.port, nodeId: node.creds.nodeId, name: node.creds.name, home: node.home.root, downloads: downloads.dir, downloadsSource: downloads.source, ui: ui?.url ?? null });
    else {
      out.line(`p2pfx node ${node.creds.name} listening on ${running.url}`);
      out.line(`node id ${node.creds.nodeId}`);
      if (ui) out.line(`web UI (this machine only): ${ui.url}`);
      out.line(`files sent to this node go to ${downloads.dir}`);
      out.line(`home ${node.home.root} — Ctrl-C to stop`);
    }
    if (downloads.source === 'legacy') out.note(legacyDownloadsNote(downloads.dir));
    if (ui && opts.open) openInBrowser(ui.url);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await ui?.close();
    await running.close();
    if (!out.json) out.note('stopped');
  });
}

/** Opens a URL with the desktop's browser, if there is one; nothing happens otherwise. */
function openInBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

/** --max-store, named in its error. */
function parseStoreLimit(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new P2pfxError('INVALID_ARGUMENT', `--max-store: ${(err as Error).message}`);
  }
}

/** Progress lines and events of a stream at most this often (the first and the last always). */
const PROGRESS_EVERY_MS = 250;

/**
 * What `serve` says of peers' uploads as they land: with --json, one event per line (`started`,
 * `progress`, `stored`; then the inbox's `received` or `failed` once a file is whole); on a
 * terminal, a line when a peer starts and when it is done, and a live count between them.
 */
function uploadReporter(out: ReturnType<typeof outFor>): (e: UploadActivity) => void {
  const last = new Map<number, number>();
  const started = new Map<number, number>();
  const live = process.stderr.isTTY === true && !out.json;
  return (e) => {
    const who = `${e.peer.name ? printable(e.peer.name) : 'a node'} (${shortNodeId(e.peer.nodeId)})`;
    const peer = { peer: e.peer.nodeId, peerName: e.peer.name };
    if (e.type === 'started') {
      started.set(e.stream, Date.now());
      if (out.json) out.data({ event: 'started', stream: e.stream, ...peer });
      else out.line(`receiving from ${who}…`);
      return;
    }
    if (e.type === 'chunk') {
      const now = Date.now();
      if (e.chunks > 1 && now - (last.get(e.stream) ?? 0) < PROGRESS_EVERY_MS) return;
      last.set(e.stream, now);
      if (out.json) out.data({ event: 'progress', stream: e.stream, ...peer, chunks: e.chunks, bytes: e.bytes });
      else if (live) process.stderr.write(`\r  ${who}: ${e.chunks} chunks, ${formatBytes(e.bytes)} so far\u001b[K`);
      return;
    }
    const seconds = (Date.now() - (started.get(e.stream) ?? Date.now())) / 1000;
    last.delete(e.stream);
    started.delete(e.stream);
    if (out.json) return out.data({ event: 'stored', stream: e.stream, ...peer, chunks: e.chunks, bytes: e.bytes, ok: e.ok, seconds });
    if (live) process.stderr.write('\r\u001b[K');
    out.line(e.ok
      ? `  ${who}: ${e.chunks} chunks stored (${formatBytes(e.bytes)}) in ${seconds.toFixed(1)} s`
      : `  ${who}: the upload stopped after ${e.chunks} chunks (${formatBytes(e.bytes)}); what landed is kept, and a send again moves only the rest`);
  };
}
