import { spawn } from 'node:child_process';
import { P2pfxError } from '../../core/errors.js';
import { startNode } from '../../node/run-node.js';
import type { UiServer } from '../../ui/server.js';
import { shortNodeId } from '../../pki/node-id.js';
import type { InboxEvent } from '../../transfer/inbox.js';
import type { LanEvent } from '../../net/lan-peers.js';
import { formatPeer } from '../../net/peer-address.js';
import { formatBytes, printable } from '../output.js';
import { outFor, parsePort, parseSize, withNode, type GlobalOptions } from '../context.js';

export interface ServeOptions { port: string; host: string; discovery?: boolean; ui?: boolean; uiPort?: string; open?: boolean; maxStore?: string }

/** Runs the node until SIGINT or SIGTERM. */
export async function serveCommand(g: GlobalOptions, opts: ServeOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
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
    const onLan = (e: LanEvent): void => {
      if (out.json) return out.data(e.type === 'peer' ? { event: 'peer', nodeId: e.peer.nodeId, name: e.peer.name, host: e.host, port: e.port } : { event: e.type, ...e });
      if (e.type === 'peer') out.line(`peer ${printable(e.peer.name)} (${shortNodeId(e.peer.nodeId)}) at ${formatPeer(e)}: handshake checked, in the peer book`);
      else if (e.type === 'ignored') out.line(`ignored an announcement from ${formatPeer(e)}: ${e.code}: ${printable(e.message)}`);
      else out.note(`LAN discovery (${e.stage}): ${printable(e.message)}`);
    };
    const running = await startNode(node, {
      host: opts.host, port: parsePort(opts.port), logger: g.debug ? { level: 'info' } : false, inbox: { onEvent },
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
    if (out.json) out.data({ listening: running.url, host: running.host, port: running.port, nodeId: node.creds.nodeId, name: node.creds.name, home: node.home.root, ui: ui?.url ?? null });
    else {
      out.line(`p2pfx node ${node.creds.name} listening on ${running.url}`);
      out.line(`node id ${node.creds.nodeId}`);
      if (ui) out.line(`web UI (this machine only): ${ui.url}`);
      out.line(`home ${node.home.root} — Ctrl-C to stop`);
    }
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
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
