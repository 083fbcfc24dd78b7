// A peer's catalog as this node sees it: ids and sizes always, names where it holds a key.
import { P2pfxError } from '../core/errors.js';
import type { KeyEnvelope } from '../core/envelope.js';
import { isFileId } from '../core/ids.js';
import { openMetadata, plaintextBytes, type SealedMetadata } from '../core/manifest.js';
import type { PeerClient } from '../net/client.js';
import { commonNameOf, isSignedBy } from '../pki/cert-pem.js';
import { nodeIdFromCertPem, normalizeNodeId } from '../pki/node-id.js';
import type { Credentials } from '../store/credentials.js';
import { hasOwnEnvelope, unlockDataKey } from './unlock.js';

export interface CatalogEntry {
  fileId: string;
  chunkCount: number;
  totalBytes: number;
  /** Plaintext size (from the chunk sizes; the sealed metadata confirms it). */
  size: number;
  createdAt: string;
  sender: string;
  /** The sender's node name, from its certificate when that is one of this network's; else null. */
  senderName: string | null;
  /** null where this node holds no key to the metadata. */
  name: string | null;
  /** How this node can open the file: its own key, a password, or not at all. */
  access: 'key' | 'password' | 'none';
}

interface Summary {
  fileId: string; chunkCount: number; totalBytes: number; createdAt: string;
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
    let name: string | null = null;
    if (own || (locked && password !== undefined)) {
      try {
        const fileId = Buffer.from(s.fileId, 'hex');
        const key = await unlockDataKey(s.envelopes, fileId, creds, { password, label: s.fileId });
        name = openMetadata(s.metadata, key, fileId).name;
      } catch (err) {
        if (!(err instanceof P2pfxError)) throw err;
      }
    }
    entries.push({
      fileId: s.fileId, chunkCount: s.chunkCount, totalBytes: s.totalBytes, size: plaintextBytes(s),
      createdAt: s.createdAt, sender: s.sender.nodeId, senderName: senderName(s, creds), name, access: own ? 'key' : locked ? 'password' : 'none',
    });
  }
  return entries;
}

/**
 * A file id from what the user typed: an id as is, or a name looked up in the catalog.
 * Throws MANIFEST_NOT_FOUND, or AMBIGUOUS_NAME listing the candidates' ids.
 */
export async function resolveFileRef(client: PeerClient, creds: Credentials, ref: string, password?: string): Promise<string> {
  if (isFileId(ref)) return ref;
  const matches = (await listCatalog(client, creds, password)).filter((e) => e.name === ref);
  if (matches.length === 1) return matches[0]!.fileId;
  if (matches.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} files on ${client.label} are named ${JSON.stringify(ref)}: ${matches.map((m) => `${m.fileId} (${m.createdAt})`).join(', ')}`);
  }
  throw new P2pfxError('MANIFEST_NOT_FOUND', `no file named ${JSON.stringify(ref)} that this node can open on ${client.label}`, {
    hint: password === undefined
      ? 'List the catalog with `p2pfx files --peer …`; files protected by a password show their name only with --password.'
      : 'List the catalog with `p2pfx files --peer … --password …`, or use the file id.',
  });
}

function asSummary(raw: unknown): Summary | null {
  const s = raw as Partial<Summary> | null;
  if (!s || typeof s !== 'object' || !isFileId(s.fileId) || !Number.isSafeInteger(s.chunkCount) || !Number.isSafeInteger(s.totalBytes)
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
