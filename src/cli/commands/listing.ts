// `p2pfx chunks [--peer]`, `p2pfx files --peer`, `p2pfx id`.
import { listCatalog } from '../../transfer/catalog.js';
import { shortNodeId } from '../../pki/node-id.js';
import { formatBytes, printable } from '../output.js';
import { outFor, parseCount, withNode, withPeer, type GlobalOptions } from '../context.js';
import type { LocalNode } from '../../store/local-node.js';

export interface ChunksOptions { peer?: string; limit?: string }

export async function chunksCommand(g: GlobalOptions, opts: ChunksOptions): Promise<void> {
  const out = outFor(g);
  const limit = opts.limit === undefined ? 1000 : parseCount(opts.limit, '--limit', 10000);
  await withNode(g, async (node) => {
    const { chunks, where } = opts.peer
      ? await withPeer(node, opts.peer, async (client) => ({ chunks: (await client.listChunks('', limit)).chunks, where: `peer ${client.label} (node ${client.nodeId ?? '?'})` }))
      : { chunks: await node.store.list('', limit), where: `this node (${node.home.chunksDir})` };
    if (out.json) return out.data({ where, chunks });
    if (chunks.length === 0) return out.line(`No chunks on ${where}.`);
    out.line(`${chunks.length} chunk${chunks.length === 1 ? '' : 's'} on ${where}${chunks.length === limit ? ` (first ${limit}; --limit for more)` : ''}:`);
    for (const c of chunks) out.line(`  ${c.id}  ${formatBytes(c.size)}`);
  });
}

export interface FilesOptions { peer?: string; password?: string }

export async function filesCommand(g: GlobalOptions, opts: FilesOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, (node) => withPeer(node, opts.peer, async (client) => {
    const entries = await listCatalog(client, node.creds, opts.password);
    if (out.json) return out.data({ peer: client.label, peerNodeId: client.nodeId, files: entries });
    if (entries.length === 0) return out.line(`The catalog of ${client.label} is empty.`);
    out.line(`${entries.length} file${entries.length === 1 ? '' : 's'} on ${client.label} (node ${client.nodeId ?? '?'}):`);
    for (const e of entries) {
      const name = e.name ?? (e.access === 'password' ? '(name hidden: needs the password)' : '(name hidden: no key here)');
      const from = `${e.senderName === null ? '?' : printable(e.senderName)} (${shortNodeId(e.sender)})`;
      out.line(`  ${e.fileId}  ${formatBytes(e.size).padStart(9)}  ${String(e.chunkCount).padStart(6)} chunks  ${e.createdAt}  from ${from}  ${e.name === null ? name : printable(name)}`);
    }
  }));
}

export async function idCommand(g: GlobalOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node: LocalNode) => {
    if (out.json) return out.data({ nodeId: node.creds.nodeId, name: node.creds.name, x25519: node.creds.x25519.publicKey.toString('base64') });
    out.line(node.creds.nodeId);
  });
}
