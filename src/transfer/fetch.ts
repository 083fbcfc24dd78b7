// The fetch use case, whoever asks (the CLI, the UI): a reference (a file id, or a name from the
// peers' catalogs) resolved ONCE to a file id and its kind, then a file or a folder downloaded.
// The catalog is read once across the peers; the password's key is derived once (the listing
// opens what the password opens, and the download reuses that derivation: core/envelope.ts).
import { isErrorCode, P2pfxError } from '../core/errors.js';
import { isFileId } from '../core/ids.js';
import type { PeerClient } from '../net/client.js';
import type { Credentials } from '../store/credentials.js';
import { listCatalogAcross } from './catalog.js';
import { getFolder, type GetFolderOptions, type GetFolderResult } from './folder.js';
import { getFile, type GetOptions, type GetResult } from './get.js';

export interface FetchTarget { fileId: string; kind: 'file' | 'folder'; name: string | null }

/**
 * What `ref` names across the peers, from one reading of their catalogs: an id as is (its kind
 * from the catalog when listed there, else a file); a name must name one file across them all.
 */
export async function resolveTarget(clients: readonly PeerClient[], creds: Credentials, ref: string, password?: string): Promise<FetchTarget> {
  const { files, unreachable } = await listCatalogAcross(clients, creds, password);
  // No peer answered: say so now rather than wait for each of them again.
  if (unreachable.length === clients.length && clients.length > 0) {
    const e = unreachable[0]!;
    throw new P2pfxError(isErrorCode(e.code) ? e.code : 'PEER_ERROR', e.message);
  }
  if (isFileId(ref)) {
    const listed = files.find((f) => f.fileId === ref);
    return { fileId: ref, kind: listed?.kind === 'folder' ? 'folder' : 'file', name: listed?.name ?? null };
  }
  const matches = files.filter((e) => e.name === ref && e.inFolder !== true);
  if (matches.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} files are named ${JSON.stringify(ref)}: ${matches.map((m) => `${m.fileId} (${m.createdAt}, on ${m.peers.join(', ')})`).join(', ')}`);
  }
  const match = matches[0];
  if (!match) {
    throw new P2pfxError('MANIFEST_NOT_FOUND', `no file named ${JSON.stringify(ref)} that this node can open on ${clients.map((c) => c.label).join(', ')}`, {
      hint: password === undefined
        ? 'List the catalog with `p2pfx files --peer …`; files protected by a password show their name only with --password.'
        : 'List the catalog with `p2pfx files --peer … --password …`, or use the file id.',
    });
  }
  return { fileId: match.fileId, kind: match.kind === 'folder' ? 'folder' : 'file', name: match.name };
}

export type FetchOptions = Omit<GetOptions, 'ref' | 'client'> & Pick<GetFolderOptions, 'replace'> & { clients: readonly PeerClient[] };

export type Fetched = { kind: 'file'; target: FetchTarget; file: GetResult } | { kind: 'folder'; target: FetchTarget; folder: GetFolderResult };

/** Downloads what `target` names: a file (getFile) or a folder (getFolder), never resolved again. */
export async function fetchTarget(target: FetchTarget, opts: FetchOptions): Promise<Fetched> {
  if (target.kind === 'folder') return { kind: 'folder', target, folder: await getFolder({ ...opts, folderFileId: target.fileId }) };
  return { kind: 'file', target, file: await getFile({ ...opts, ref: target.fileId }) };
}
