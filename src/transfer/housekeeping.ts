// Keeping a node's disk in check (DESIGN "Disk: what a node holds, and what it lets go"): what it
// holds (`p2pfx du`), forgetting a file (`p2pfx rm`), and removing what no manifest references
// (`p2pfx prune`). A chunk is kept while any manifest in this node's catalog names it; what no
// manifest names is removed only once it is older than a grace period, so the chunks of a send
// still on its way (they arrive before their manifest) are never touched.
import { stat } from 'node:fs/promises';
import { P2pfxError } from '../core/errors.js';
import { isFileId } from '../core/ids.js';
import { openMetadata, type Manifest } from '../core/manifest.js';
import type { BackedFile } from '../store/file-chunk-table.js';
import type { LocalNode } from '../store/local-node.js';
import { hasOwnEnvelope, unlockDataKey } from './unlock.js';
import { MAX_PAGE } from '../core/limits.js';

/** Unreferenced chunks younger than this are kept by prune (a send in progress). */
export const DEFAULT_PRUNE_GRACE_MS = 60 * 60 * 1000;

export interface Amount { count: number; bytes: number }

export interface StoreUsage {
  chunks: Amount;
  /** Chunks some manifest of the catalog names, and how many manifests there are. */
  referenced: Amount & { manifests: number };
  /** Chunks no manifest names (what `prune` would remove, once older than its grace). */
  unreferenced: Amount;
  /** Files and folders received here and still where they were written. */
  received: Amount;
  /**
   * Chunks that received files stand for, kept once as the files (DESIGN "Disk"): `files` of
   * them, and `edited` of those changed since (their chunks are no longer served; prune forgets them).
   */
  asFiles: Amount & { files: number; edited: number };
}

/** What this node holds: its chunk store (referenced or not), and the files it received. */
export async function storeUsage(node: LocalNode): Promise<StoreUsage> {
  const manifests = node.db.listManifests();
  const named = chunkIdsOf(manifests);
  const chunks = { count: 0, bytes: 0 };
  const referenced = { count: 0, bytes: 0, manifests: manifests.length };
  const unreferenced = { count: 0, bytes: 0 };
  await eachChunk(node, (c) => {
    add(chunks, c.size);
    add(named.has(c.id) ? referenced : unreferenced, c.size);
  });
  const received = { count: 0, bytes: 0 };
  for (const r of node.db.listReceived()) {
    const st = await stat(r.path).catch(() => null);
    if (st?.isFile()) add(received, st.size);
    else if (st?.isDirectory()) received.count++;
  }
  const asFiles = { count: 0, bytes: 0, files: 0, edited: 0 };
  for (const f of node.db.fileChunks.files()) {
    asFiles.files++;
    if (!(await asWritten(f))) asFiles.edited++;
    asFiles.count += f.chunks;
    asFiles.bytes += f.bytes;
  }
  return { chunks, referenced, unreferenced, received, asFiles };
}

/** Whether a received file is still the size and age it was written with. */
async function asWritten(f: BackedFile): Promise<boolean> {
  const st = await stat(f.path).catch(() => null);
  return st !== null && st.isFile() && st.size === f.fileSize && st.mtimeMs === f.fileMtimeMs;
}

export interface Forgotten {
  fileId: string;
  name: string | null;
  /** Chunks removed (no other manifest named them). */
  removed: Amount;
  /** Chunks kept because another manifest names them too. */
  shared: number;
  /** Where the file was received here, if it was: left alone (it is the user's now). */
  receivedPath: string | null;
  /** Chunks that received file stood for: it stands for none now (no disk freed: the file stays). */
  stoodFor: number;
}

/**
 * Forgets a file of this node's catalog, named by file id or by name (as this node can read it):
 * its manifest, and the chunks no other manifest names. The file it received, if any, stays.
 * MANIFEST_NOT_FOUND when nothing matches; AMBIGUOUS_NAME when a name is several files.
 */
export async function forgetFile(node: LocalNode, ref: string): Promise<Forgotten> {
  const { manifest, name } = await findLocal(node, ref);
  const receivedPath = node.db.received(manifest.fileId)?.path ?? null;
  const stoodFor = node.db.fileChunks.files().find((f) => f.fileId === manifest.fileId)?.chunks ?? 0;
  node.db.forgetManifest(manifest.fileId);
  const stillNamed = chunkIdsOf(node.db.listManifests());
  const removed = { count: 0, bytes: 0 };
  let shared = 0;
  for (const id of new Set(manifest.chunks.map((c) => c.id))) {
    if (stillNamed.has(id)) {
      shared++;
      continue;
    }
    const size = await node.store.size(id);
    if (size !== null && (await node.store.remove(id))) add(removed, size);
  }
  return { fileId: manifest.fileId, name, removed, shared, receivedPath, stoodFor };
}

export interface Pruned {
  /** Unreferenced chunks removed. */
  chunks: Amount;
  /** Temporary files (writes that never finished) removed. */
  temporaries: Amount;
  /** Unreferenced chunks kept because they are younger than the grace period. */
  young: Amount;
  /** Received files edited, moved or removed since: they stand for their chunks no more. */
  edited: { files: number; chunks: number };
}

/** Removes the chunks no manifest names and the temporaries, both older than `graceMs`. */
export async function pruneStore(node: LocalNode, graceMs = DEFAULT_PRUNE_GRACE_MS): Promise<Pruned> {
  const named = chunkIdsOf(node.db.listManifests());
  const now = Date.now();
  const orphans: Array<{ id: string; size: number }> = [];
  await eachChunk(node, (c) => {
    if (!named.has(c.id)) orphans.push(c);
  });
  const chunks = { count: 0, bytes: 0 };
  const young = { count: 0, bytes: 0 };
  for (const c of orphans) {
    const at = await node.store.writtenAt(c.id);
    if (at === null) continue;
    if (now - at < graceMs) add(young, c.size);
    else if (await node.store.remove(c.id)) add(chunks, c.size);
  }
  const edited = { files: 0, chunks: 0 };
  for (const f of node.db.fileChunks.files()) {
    if (await asWritten(f)) continue;
    edited.files++;
    edited.chunks += node.db.fileChunks.drop(f.fileId);
  }
  return { chunks, temporaries: await node.store.removeTemporaries(graceMs), young, edited };
}

/** The manifest `ref` names in this node's catalog: a file id, or a name this node can read. */
async function findLocal(node: LocalNode, ref: string): Promise<{ manifest: Manifest; name: string | null }> {
  const manifests = node.db.listManifests();
  if (isFileId(ref)) {
    const manifest = manifests.find((m) => m.fileId === ref);
    if (!manifest) throw new P2pfxError('MANIFEST_NOT_FOUND', `this node's catalog holds no file ${ref}`, { hint: 'List what it holds with `p2pfx du` or `p2pfx files --peer` on another node.' });
    return { manifest, name: await nameOf(node, manifest) };
  }
  const matches: Array<{ manifest: Manifest; name: string }> = [];
  for (const manifest of manifests) {
    if ((await nameOf(node, manifest)) === ref) matches.push({ manifest, name: ref });
  }
  if (matches.length === 0) {
    throw new P2pfxError('MANIFEST_NOT_FOUND', `this node's catalog holds no file named ${JSON.stringify(ref)} that it can read`, { hint: 'Name it by its file id (the catalog of a peer lists ids: `p2pfx files`).' });
  }
  if (matches.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} files here are named ${JSON.stringify(ref)}: ${matches.map((m) => `${m.manifest.fileId} (${m.manifest.createdAt})`).join(', ')}`, { hint: 'Remove one by its file id.' });
  }
  return matches[0]!;
}

/** A file's name, where this node holds a key to its metadata; else null. */
async function nameOf(node: LocalNode, m: Manifest): Promise<string | null> {
  if (!hasOwnEnvelope(m.envelopes, node.creds)) return null;
  try {
    const fileId = Buffer.from(m.fileId, 'hex');
    const key = await unlockDataKey(m.envelopes, fileId, node.creds, { label: m.fileId });
    return openMetadata(m.metadata, key, fileId, m.version).name;
  } catch (err) {
    if (err instanceof P2pfxError) return null;
    throw err;
  }
}

function chunkIdsOf(manifests: readonly Manifest[]): Set<string> {
  const ids = new Set<string>();
  for (const m of manifests) for (const c of m.chunks) ids.add(c.id);
  return ids;
}

async function eachChunk(node: LocalNode, fn: (c: { id: string; size: number }) => void): Promise<void> {
  let after = '';
  for (;;) {
    const page = await node.store.list(after, MAX_PAGE);
    for (const c of page) fn(c);
    if (page.length < MAX_PAGE) return;
    after = page[page.length - 1]!.id;
  }
}

function add(a: Amount, bytes: number): void {
  a.count++;
  a.bytes += bytes;
}
