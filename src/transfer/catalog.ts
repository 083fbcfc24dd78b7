// A peer's catalog as this node sees it: ids and sizes always, names where it holds a key.
import { P2pfxError, isErrorCode, toP2pfxError } from '../core/errors.js';
import type { KeyEnvelope } from '../core/envelope.js';
import { isFileId } from '../core/ids.js';
import { MANIFEST_VERSIONS, openMetadata, plaintextBytes, type FileMetadata, type ManifestVersion, type SealedMetadata } from '../core/manifest.js';
import type { PeerClient } from '../net/client.js';
import { commonNameOf, isSignedBy } from '../pki/cert-pem.js';
import { nodeIdFromCertPem, normalizeNodeId } from '../pki/node-id.js';
import type { Credentials } from '../store/credentials.js';
import { hasOwnEnvelope, unlockDataKey } from './unlock.js';

export interface CatalogEntry {
  fileId: string;
  chunkCount: number;
  totalBytes: number;
  /** Plaintext size (from the chunk sizes); for a packed folder this node can open, the bytes of its files (without its index). */
  size: number;
  createdAt: string;
  sender: string;
  /** The sender's node name, from its certificate when that is one of this network's; else null. */
  senderName: string | null;
  /** null where this node holds no key to the metadata. */
  name: string | null;
  /** How this node can open the file: its own key, a password, or not at all. */
  access: 'key' | 'password' | 'none';
  /** A file, or a folder (its index: fetch it with getFolder); null where the metadata stays closed. */
  kind: 'file' | 'folder' | null;
  /** A member file of some folder (it comes with its folder); null where the metadata stays closed. */
  inFolder: boolean | null;
  /** A folder: how many files it holds, where its sender said (packed folders since issue 16); else null. */
  files: number | null;
}

interface Summary {
  version: ManifestVersion; fileId: string; chunkCount: number; totalBytes: number; createdAt: string;
  sender: { nodeId: string; certPem?: unknown }; envelopes: KeyEnvelope[]; metadata: SealedMetadata;
}

/**
 * Lists the peer's catalog. With `password`, names of password-protected files are opened
 * with it too (scrypt once per such file: slow by design).
 */
export async function listCatalog(client: PeerClient, creds: Credentials, password?: string): Promise<CatalogEntry[]> {
  const entries: CatalogEntry[] = [];
  for (const raw of await client.listManifests()) {
    const s = asSummary(raw);
    if (!s) continue; // a malformed entry from the peer is skipped, not fatal
    const own = hasOwnEnvelope(s.envelopes, creds);
    const locked = s.envelopes.some((e) => e.type === 'password');
    const meta = await openSummary(s, creds, password);
    entries.push({
      fileId: s.fileId, chunkCount: s.chunkCount, totalBytes: s.totalBytes,
      // A packed folder's stream ends with its index: what it holds is the rest.
      size: meta === null ? plaintextBytes(s) : meta.size - (meta.indexBytes ?? 0),
      createdAt: s.createdAt, sender: s.sender.nodeId, senderName: senderName(s, creds), name: meta?.name ?? null, access: own ? 'key' : locked ? 'password' : 'none',
      kind: meta === null ? null : meta.kind ?? 'file', inFolder: meta === null ? null : meta.inFolder ?? false, files: meta?.files ?? null,
    });
  }
  return entries;
}

/** A file as seen across several peers: one entry per file id, with the peers that list it. */
export interface MergedEntry extends CatalogEntry {
  /** Addresses of the peers whose catalogs list it. */
  peers: string[];
}

export interface MergedCatalog {
  files: MergedEntry[];
  /** Peers whose catalog could not be read, with why. */
  unreachable: Array<{ peer: string; code: string; message: string }>;
}

/** The catalogs of several peers, read at once and merged by file id; a peer that fails is listed, not fatal. */
export async function listCatalogAcross(clients: readonly PeerClient[], creds: Credentials, password?: string): Promise<MergedCatalog> {
  const results = await Promise.allSettled(clients.map((c) => listCatalog(c, creds, password)));
  const byId = new Map<string, MergedEntry>();
  const unreachable: MergedCatalog['unreachable'] = [];
  results.forEach((r, i) => {
    const peer = clients[i]!.label;
    if (r.status === 'rejected') {
      const e = toP2pfxError(r.reason);
      unreachable.push({ peer, code: e.code, message: e.message });
      return;
    }
    for (const entry of r.value) {
      const known = byId.get(entry.fileId);
      if (known) known.peers.push(peer);
      else byId.set(entry.fileId, { ...entry, peers: [peer] });
    }
  });
  const files = [...byId.values()].sort(newestFirst);
  return { files, unreachable };
}

/**
 * The newest version of each file or folder: what one sender sent several times under one name
 * (and kind) is one row, its newest, saying how many older versions there are. Files whose name
 * this node cannot read stay each on its own row. Newest first, as given.
 */
export function newestVersions<T extends CatalogEntry>(files: readonly T[]): Array<T & { olderVersions: number }> {
  const sorted = [...files].sort(newestFirst);
  const rows = new Map<string, T & { olderVersions: number }>();
  const out: Array<T & { olderVersions: number }> = [];
  for (const f of sorted) {
    const key = f.name === null ? null : `${f.sender}\u0000${f.kind}\u0000${f.name}`;
    const row = key === null ? undefined : rows.get(key);
    if (row) {
      row.olderVersions++;
      continue;
    }
    const fresh = { ...f, olderVersions: 0 };
    if (key !== null) rows.set(key, fresh);
    out.push(fresh);
  }
  return out;
}

function newestFirst(a: CatalogEntry, b: CatalogEntry): number {
  return a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.fileId.localeCompare(b.fileId);
}

/**
 * What a reference names: its file id, whether it is a file or a folder, and its name where
 * known; for a name its sender used several times, how many older versions were passed over.
 */
export interface ResolvedRef { fileId: string; kind: 'file' | 'folder'; name: string | null; olderVersions?: number; createdAt?: string; senderName?: string | null }

/**
 * What `ref` names across the peers: an id from its manifest alone (describeById: no catalog
 * read); a name from ONE reading of their catalogs, and it must name one file across them all
 * (the same file held by two peers is one file; the member files of folders come with their folder
 * and are not looked up by name). Throws the peers' error when none answered, AMBIGUOUS_NAME
 * listing the candidates, or MANIFEST_NOT_FOUND.
 */
export async function resolveTarget(clients: readonly PeerClient[], creds: Credentials, ref: string, password?: string): Promise<ResolvedRef> {
  if (isFileId(ref)) return describeById(clients, creds, ref, password);
  const { files, unreachable } = await listCatalogAcross(clients, creds, password);
  // No peer answered: say so now rather than wait for each of them again.
  if (unreachable.length === clients.length && clients.length > 0) {
    const e = unreachable[0]!;
    throw new P2pfxError(isErrorCode(e.code) ? e.code : 'PEER_ERROR', e.message);
  }
  // One sender's versions of a name are one file: its newest. Several senders: say which are there.
  const matches = newestVersions(files.filter((e) => e.name === ref && e.inFolder !== true));
  if (matches.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} senders have a file named ${JSON.stringify(ref)}: ${matches.map((m) => `${m.fileId} from ${m.senderName ?? m.sender} (${m.createdAt}, on ${m.peers.join(', ')})`).join(', ')}`, {
      hint: 'Use the file id of the one you mean (`p2pfx files` lists them).',
    });
  }
  const match = matches[0];
  if (!match) {
    throw new P2pfxError('MANIFEST_NOT_FOUND', `no file named ${JSON.stringify(ref)} that this node can open on ${clients.map((c) => c.label).join(', ')}`, {
      hint: password === undefined
        ? 'List the catalog with `p2pfx files --peer …`; files protected by a password show their name only with --password.'
        : 'List the catalog with `p2pfx files --peer … --password …`, or use the file id.',
    });
  }
  return { fileId: match.fileId, kind: match.kind === 'folder' ? 'folder' : 'file', name: match.name, olderVersions: match.olderVersions, createdAt: match.createdAt, senderName: match.senderName };
}

/**
 * What a file id names, from its manifest alone (the first peer that has it): no catalog is read,
 * so a password is derived for this file only, once, whatever the number of peers (the download
 * reuses that derivation). Where this node cannot open it, or no peer has it, it is taken for a
 * file: the download then says why.
 */
async function describeById(clients: readonly PeerClient[], creds: Credentials, fileId: string, password?: string): Promise<ResolvedRef> {
  for (const client of clients) {
    let raw: unknown;
    try {
      raw = await client.getManifest(fileId);
    } catch {
      continue;
    }
    const s = asSummary(raw);
    if (s === null || s.fileId !== fileId) continue;
    const opened = await openSummary(s, creds, password);
    return { fileId, kind: opened?.kind === 'folder' ? 'folder' : 'file', name: opened?.name ?? null };
  }
  return { fileId, kind: 'file', name: null };
}

/** A catalog entry's metadata where this node can open it (its own envelope, or a password given), else null. */
async function openSummary(s: Summary, creds: Credentials, password?: string): Promise<FileMetadata | null> {
  const own = hasOwnEnvelope(s.envelopes, creds);
  const locked = s.envelopes.some((e) => e.type === 'password');
  if (!own && !(locked && password !== undefined)) return null;
  try {
    const fileId = Buffer.from(s.fileId, 'hex');
    const key = await unlockDataKey(s.envelopes, fileId, creds, { password, label: s.fileId });
    return openMetadata(s.metadata, key, fileId, s.version);
  } catch (err) {
    if (!(err instanceof P2pfxError)) throw err;
    return null;
  }
}

/** A file id from what the user typed: an id as is (no catalog read), else as resolveTarget. */
export async function resolveFileRefAcross(clients: readonly PeerClient[], creds: Credentials, ref: string, password?: string): Promise<string> {
  return isFileId(ref) ? ref : (await resolveTarget(clients, creds, ref, password)).fileId;
}

/** resolveFileRefAcross with one peer. */
export async function resolveFileRef(client: PeerClient, creds: Credentials, ref: string, password?: string): Promise<string> {
  return resolveFileRefAcross([client], creds, ref, password);
}

function asSummary(raw: unknown): Summary | null {
  const s = raw as Partial<Summary> | null;
  if (!s || typeof s !== 'object' || !(MANIFEST_VERSIONS as readonly unknown[]).includes(s.version) || !isFileId(s.fileId) || !Number.isSafeInteger(s.chunkCount) || !Number.isSafeInteger(s.totalBytes)
    || typeof s.createdAt !== 'string' || typeof s.sender?.nodeId !== 'string' || !Array.isArray(s.envelopes)
    || typeof s.metadata?.sealed !== 'string' || typeof s.metadata.nonce !== 'string' || !isNodeId(s.sender.nodeId)) return null;
  return s as Summary;
}

/** The CN of the sender's certificate, if that certificate is from this network's CA and is the sender's. */
function senderName(s: Summary, creds: Credentials): string | null {
  const pem = s.sender.certPem;
  if (typeof pem !== 'string') return null;
  try {
    return isSignedBy(pem, creds.caCertPem) && nodeIdFromCertPem(pem) === s.sender.nodeId ? commonNameOf(pem) : null;
  } catch {
    return null;
  }
}

function isNodeId(text: string): boolean {
  try {
    return normalizeNodeId(text) === text;
  } catch {
    return false;
  }
}
