// The fetch use case, whoever asks (the CLI, the UI): a reference (a file id, or a name from the
// peers' catalogs) resolved ONCE to a file id and its kind (transfer/catalog.ts resolveTarget),
// then a file or a folder downloaded.
// A name reads the catalog once across the peers; an id reads only its manifest. The password's
// key is derived once (for an id, for that file only; the download reuses it: core/envelope.ts).
import type { PeerClient } from '../net/client.js';
import type { ResolvedRef } from './catalog.js';
import { getFolder, type GetFolderOptions, type GetFolderResult } from './folder.js';
import { getFile, type GetOptions, type GetResult } from './get.js';

export type FetchOptions = Omit<GetOptions, 'ref' | 'client'> & Pick<GetFolderOptions, 'replace'> & { clients: readonly PeerClient[] };

export type Fetched = { kind: 'file'; target: ResolvedRef; file: GetResult } | { kind: 'folder'; target: ResolvedRef; folder: GetFolderResult };

/** Downloads what `target` names: a file (getFile) or a folder (getFolder), never resolved again. */
export async function fetchTarget(target: ResolvedRef, opts: FetchOptions): Promise<Fetched> {
  if (target.kind === 'folder') return { kind: 'folder', target, folder: await getFolder({ ...opts, folderFileId: target.fileId }) };
  return { kind: 'file', target, file: await getFile({ ...opts, ref: target.fileId }) };
}
