// `p2pfx chunks [--peer]`, `p2pfx files --peer`, `p2pfx id`.
import { P2pfxError, isErrorCode } from '../../core/errors.js';
import { listCatalogAcross, newestVersions } from '../../transfer/catalog.js';
import { formatPeer } from '../../net/peer-address.js';
import { shortNodeId } from '../../pki/node-id.js';
import { formatBytes, printable } from '../output.js';
import { outFor, parseCount, withNode, withPeer, withPeers, type GlobalOptions } from '../context.js';
import type { LocalNode } from '../../store/local-node.js';

export interface ChunksOptions { peer?: string; limit?: string; verify?: boolean }

export async function chunksCommand(g: GlobalOptions, opts: ChunksOptions): Promise<void> {
  const out = outFor(g);
  if (opts.verify) return verifyChunks(g, opts);
  const limit = opts.limit === undefined ? 1000 : parseCount(opts.limit, '--limit', 10000);
  await withNode(g, async (node) => {
    const { chunks, where } = opts.peer !== undefined
      ? await withPeer(node, opts.peer, async (client) => ({ chunks: (await client.listChunks('', limit)).chunks, where: `peer ${client.label} (node ${client.nodeId ?? '?'})` }))
      : { chunks: await node.store.list('', limit), where: `this node (${node.home.chunksDir})` };
    if (out.json) return out.data({ where, chunks });
    if (chunks.length === 0) return out.line(`No chunks on ${where}.`);
    out.line(`${chunks.length} chunk${chunks.length === 1 ? '' : 's'} on ${where}${chunks.length === limit ? ` (first ${limit}; --limit for more)` : ''}:`);
    for (const c of chunks) out.line(`  ${c.id}  ${formatBytes(c.size)}`);
  });
}

/**
 * `chunks --verify`: re-hashes every chunk of this node's store; those whose bytes are not their id
 * go to chunks/.quarantine/ (kept for inspection). Exit 1 (HASH_MISMATCH) when any was found.
 */
async function verifyChunks(g: GlobalOptions, opts: ChunksOptions): Promise<void> {
  const out = outFor(g);
  if (opts.peer !== undefined || opts.limit !== undefined) {
    throw new P2pfxError('INVALID_ARGUMENT', `--verify checks this node's own store, every chunk: it does not take ${opts.peer !== undefined ? '--peer' : '--limit'}`);
  }
  await withNode(g, async (node) => {
    const result = await node.store.verify(out.json ? undefined : (b) => out.line(`  bad ${b.id}  ${b.reason}`));
    if (out.json) out.data(result);
    const where = node.home.chunksDir;
    if (result.bad.length === 0) {
      if (!out.json) out.line(`Checked ${result.checked} chunk${result.checked === 1 ? '' : 's'} in ${where}: every one matches its id.`);
      return;
    }
    const summary = `${result.bad.length} of ${result.checked} chunks in ${where} do not match their ids; moved to ${result.quarantined}`;
    if (!out.json) out.line(`Checked ${result.checked} chunks: ${result.bad.length} bad, moved to ${result.quarantined}.`);
    throw new P2pfxError('HASH_MISMATCH', summary, {
      hint: 'Nothing was deleted: the bad copies wait in chunks/.quarantine/ for inspection. Their chunks are now missing here, so sending their files to this node again restores them; check the disk.',
    });
  });
}

export interface FilesOptions { peer?: string[]; password?: string; all?: boolean }

/** The catalogs of the peers named (default: every peer in the book), merged by file id. */
export async function filesCommand(g: GlobalOptions, opts: FilesOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, (node) => withPeers(node, opts.peer, async (clients) => {
    const listed = await listCatalogAcross(clients, node.creds, opts.password);
    const { unreachable } = listed;
    // The files of a folder are listed under it (its index), and a name one sender sent again is
    // one row, its newest version, unless --all.
    const files = opts.all ? listed.files.map((f) => ({ ...f, olderVersions: 0 })) : newestVersions(listed.files.filter((f) => f.inFolder !== true));
    if (unreachable.length === clients.length) {
      const e = unreachable[0]!;
      throw new P2pfxError(isErrorCode(e.code) ? e.code : 'PEER_ERROR', e.message);
    }
    const single = clients.length === 1 ? clients[0]! : null;
    // Peers named as everywhere else: the book's name with the address.
    const names = new Map(node.db.listPeers().flatMap((p) => (p.addresses[0] ? [[formatPeer(p.addresses[0]), `${p.name} (${formatPeer(p.addresses[0])})`] as const] : [])));
    const named = (peer: string) => names.get(peer) ?? peer;
    if (out.json) {
      return out.data({ peer: single?.label ?? null, peerNodeId: single?.nodeId ?? null, peers: clients.map((c) => ({ peer: c.label, peerNodeId: c.nodeId })), files, unreachable });
    }
    const where = single ? `${single.label} (node ${single.nodeId ?? '?'})` : `${clients.length - unreachable.length} of ${clients.length} peers`;
    if (files.length === 0) out.line(single ? `The catalog of ${single.label} is empty.` : `No files on ${where}.`);
    else out.line(`${files.length} file${files.length === 1 ? '' : 's'} on ${where}:`);
    for (const e of files) {
      const name = e.name === null ? (e.access === 'password' ? '(name hidden: needs the password)' : '(name hidden: no key here)') : `${e.name}${e.kind === 'folder' ? '/' : ''}`;
      const from = `${e.senderName === null ? '?' : printable(e.senderName)} (${shortNodeId(e.sender)})`;
      const on = single ? '' : `  [on ${e.peers.map(named).join(', ')}]`;
      // A folder says how many files it holds (where its sender said); a file, its chunks.
      const count = e.kind === 'folder' && e.files !== null ? `${String(e.files).padStart(6)} files ` : `${String(e.chunkCount).padStart(6)} chunks`;
      const older = e.olderVersions > 0 ? `  (+${e.olderVersions} older version${e.olderVersions === 1 ? '' : 's'}; --all lists them)` : '';
      out.line(`  ${e.fileId}  ${formatBytes(e.size).padStart(9)}  ${count}  ${e.createdAt}  from ${from}  ${e.name === null ? name : printable(name)}${older}${on}`);
    }
    for (const u of unreachable) out.line(`  unreachable: ${named(u.peer)}: ${u.code}: ${printable(u.message)}`);
  }));
}

export async function idCommand(g: GlobalOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node: LocalNode) => {
    if (out.json) return out.data({ nodeId: node.creds.nodeId, name: node.creds.name, x25519: node.creds.x25519.publicKey.toString('base64') });
    out.line(node.creds.nodeId);
  });
}
