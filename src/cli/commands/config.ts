// `p2pfx config`: this home's settings, kept in its index (the settings table). One so far:
// `downloads`, where files sent to this node land (store/downloads.ts says what wins over it).
import { resolve } from 'node:path';
import { P2pfxError } from '../../core/errors.js';
import { DOWNLOADS_ENV, DOWNLOADS_SETTING, DOWNLOADS_SOURCE_WORDS, ensureDownloads, resolveDownloads, type Downloads } from '../../store/downloads.js';
import type { LocalNode } from '../../store/local-node.js';
import { outFor, withNode, type GlobalOptions } from '../context.js';

export interface ConfigOptions { unset?: boolean }

export async function configCommand(g: GlobalOptions, key: string | undefined, value: string | undefined, opts: ConfigOptions): Promise<void> {
  const out = outFor(g);
  if (key === undefined && (value !== undefined || opts.unset)) throw new P2pfxError('INVALID_ARGUMENT', 'name the setting: `p2pfx config downloads DIR`');
  if (value === '') throw new P2pfxError('INVALID_ARGUMENT', 'the downloads folder cannot be empty: give a folder, or --unset');
  if (value !== undefined && opts.unset) throw new P2pfxError('INVALID_ARGUMENT', '--unset removes the setting: give it without a value');
  await withNode(g, async (node) => {
    if (value !== undefined) {
      // Made (0700) and checked now: a folder that cannot be used is refused before it is kept.
      const dir = await ensureDownloads({ dir: resolve(value), source: 'setting' });
      node.db.setSetting(DOWNLOADS_SETTING, dir);
    } else if (opts.unset) node.db.deleteSetting(DOWNLOADS_SETTING);
    const now = current(node);
    if (out.json) return out.data({ downloads: { dir: now.dir, source: now.source, setting: node.db.getSetting(DOWNLOADS_SETTING) } });
    out.line(`downloads ${now.dir} (${DOWNLOADS_SOURCE_WORDS[now.source]})`);
    if (value !== undefined || opts.unset) {
      out.note('a running `p2pfx serve` keeps its folder until it is started again');
      if (now.source === 'env') out.note(`$${DOWNLOADS_ENV} is set here, and wins over the setting`);
    }
  });
}

/** The downloads folder a `serve` started now would use (no --downloads), with the setting as it is now. */
function current(node: LocalNode): Downloads {
  return resolveDownloads(node.home, { setting: node.db.getSetting(DOWNLOADS_SETTING) });
}
