// `p2pfx du` (what this node holds), `p2pfx rm NAME_OR_ID` (forget a file of its catalog and the
// chunks only it used), `p2pfx prune` (remove the chunks no manifest names, and temporaries).
import { P2pfxError } from '../../core/errors.js';
import { DEFAULT_PRUNE_GRACE_MS, forgetFile, pruneStore, storeUsage, type Amount } from '../../transfer/housekeeping.js';
import { formatBytes, printable } from '../output.js';
import { outFor, withNode, type GlobalOptions } from '../context.js';

export async function duCommand(g: GlobalOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const u = await storeUsage(node);
    if (out.json) return out.data({ home: node.home.root, ...u });
    out.line(`Chunk store ${node.home.chunksDir}: ${amount(u.chunks, 'chunk')}`);
    out.line(`  named by the ${u.referenced.manifests} file${u.referenced.manifests === 1 ? '' : 's'} of this node's catalog: ${amount(u.referenced, 'chunk')}`);
    out.line(`  named by no file: ${amount(u.unreferenced, 'chunk')}${u.unreferenced.count > 0 ? ' (`p2pfx prune` removes them)' : ''}`);
    out.line(`Received here and still in place: ${amount(u.received, 'file')}`);
    if (u.asFiles.files > 0) {
      const edited = u.asFiles.edited > 0 ? `; ${u.asFiles.edited} edited since, whose chunks are no longer served (\`p2pfx prune\` forgets them)` : '';
      out.line(`  standing for ${amount(u.asFiles, 'chunk')} of ${u.asFiles.files} file${u.asFiles.files === 1 ? '' : 's'} sent here: kept once, as the file${edited}`);
    }
  });
}

export async function rmCommand(g: GlobalOptions, ref: string): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const f = await forgetFile(node, ref);
    if (out.json) return out.data(f);
    out.line(`Forgot ${f.name === null ? `file ${f.fileId}` : `${printable(f.name)} (${f.fileId})`}: ${amount(f.removed, 'chunk')} freed${f.shared > 0 ? `, ${f.shared} chunk${f.shared === 1 ? '' : 's'} kept (other files use them)` : ''}.`);
    if (f.receivedPath !== null) out.line(`  the file received here stays: ${printable(f.receivedPath)}${f.stoodFor > 0 ? ` (it no longer stands for its ${f.stoodFor} chunk${f.stoodFor === 1 ? '' : 's'}: this node stops serving them)` : ''}`);
  });
}

export interface PruneOptions { grace?: string }

export async function pruneCommand(g: GlobalOptions, opts: PruneOptions): Promise<void> {
  const out = outFor(g);
  const graceMs = opts.grace === undefined ? DEFAULT_PRUNE_GRACE_MS : parseGrace(opts.grace);
  await withNode(g, async (node) => {
    const p = await pruneStore(node, graceMs);
    if (out.json) return out.data({ graceMs, ...p, freedBytes: p.chunks.bytes + p.temporaries.bytes });
    out.line(`Freed ${formatBytes(p.chunks.bytes + p.temporaries.bytes)}: ${amount(p.chunks, 'chunk')} no file named, ${amount(p.temporaries, 'temporary file')}.`);
    if (p.edited.files > 0) out.line(`  ${p.edited.files} received file${p.edited.files === 1 ? '' : 's'} edited, moved or removed since: ${p.edited.chunks} chunk${p.edited.chunks === 1 ? '' : 's'} no longer served from ${p.edited.files === 1 ? 'it' : 'them'}`);
    if (p.young.count > 0) out.line(`  kept ${amount(p.young, 'chunk')} named by no file yet but younger than the grace period (a send may be on its way; --grace to change)`);
  });
}

/** --grace: a duration (0, 90s, 30m, 2h, 7d); 0 removes every unreferenced chunk now. */
function parseGrace(text: string): number {
  const m = /^(\d+)\s*(s|m|min|h|d)?$/i.exec(text.trim());
  const unit = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m?.[2] ?? 's').toLowerCase() as 's'];
  const ms = m ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(ms) || ms > 365 * 86_400_000) {
    throw new P2pfxError('INVALID_ARGUMENT', `--grace must be a duration such as 0, 90s, 30m, 2h or 7d, got ${JSON.stringify(text)}`);
  }
  return ms;
}

function amount(a: Amount, what: string): string {
  return `${a.count} ${what}${a.count === 1 ? '' : 's'} (${formatBytes(a.bytes)})`;
}
