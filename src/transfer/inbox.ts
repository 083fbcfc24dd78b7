// Files sent to this node: when a manifest carrying an envelope for this node arrives, the
// running node reassembles the file into its downloads folder on its own, checked as a download
// is. One file at a time, in arrival order; a file already received is not written twice.
// Folders: a member file (metadata inFolder) is left alone; the folder index (kind 'folder'),
// sent after its members, rebuilds the whole folder from the local store (transfer/folder.ts).
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { versionTag } from '../core/folder-pack.js';
import { openMetadata, PACKED_MANIFEST_VERSION, type FileMetadata, type Manifest } from '../core/manifest.js';
import { toP2pfxError } from '../core/errors.js';
import { commonNameOf } from '../pki/cert-pem.js';
import type { LocalNode } from '../store/local-node.js';
import type { CryptoPool } from './crypto-pool.js';
import { getFolder } from './folder.js';
import type { LocalChanges } from './folder-tree.js';
import { receiveFile, unchangedCopy, PARTIAL_DIR } from './get.js';
import { checkManifest } from '../pki/manifest-trust.js';
import { hasOwnEnvelope, unlockDataKey } from './unlock.js';

export type InboxEvent =
  /**
   * A file. `updated`: it replaced an earlier version from the same sender, unchanged here;
   * `keptLocalEdit`: the earlier version was edited here since, so it stays and this one is beside it.
   */
  | { type: 'received'; kind: 'file'; fileId: string; name: string; path: string; size: number; sha256: string | null; updated: boolean; keptLocalEdit: boolean; sender: string; senderName: string }
  /** A whole folder: `size` is the bytes of all its files, `sha256` a v1 folder index's (null for a packed folder). */
  | { type: 'received'; kind: 'folder'; fileId: string; name: string; path: string; size: number; sha256: string | null; updated: boolean; localChanges: LocalChanges | null; files: number; dirs: number; sender: string; senderName: string }
  | { type: 'failed'; fileId: string; sender: string; senderName: string; code: string; message: string };

export class Inbox {
  private readonly queue: Manifest[] = [];
  private readonly queued = new Set<string>();
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly node: LocalNode, private readonly onEvent: (e: InboxEvent) => void = () => undefined, private readonly pool?: CryptoPool) {}

  /** Whether a manifest is for this node to reassemble: from another node, with a key for this one. */
  isForMe(m: Manifest): boolean {
    return m.sender.nodeId !== this.node.creds.nodeId && hasOwnEnvelope(m.envelopes, this.node.creds);
  }

  /** Takes a checked manifest just stored; reassembles its file unless done already. */
  offer(m: Manifest): void {
    if (this.closed || !this.isForMe(m) || this.queued.has(m.fileId) || this.hasReceived(m)) return;
    this.queue.push(m);
    this.queued.add(m.fileId);
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /**
   * Files addressed to this node whose reassembly never finished (the node was stopped): only
   * those whose chunks are all here — a manifest kept by a `get` that failed is not retried at
   * every start.
   */
  catchUp(): void {
    this.catching = (async () => {
      for (const m of this.node.db.listManifests().reverse()) {
        if (this.closed || !this.isForMe(m) || this.hasReceived(m)) continue;
        if ((await this.node.store.missing(m.chunks.map((c) => c.id))).length === 0) this.offer(m);
      }
    })().catch(() => undefined);
  }

  /**
   * Whether this very file was received already. A packed folder keeps its file id from version
   * to version: a newer version (other chunks) from its sender is received again, in place.
   */
  private hasReceived(m: Manifest): boolean {
    const r = this.node.db.received(m.fileId);
    if (r === null || !isReceived(r.path)) return false;
    return m.version !== PACKED_MANIFEST_VERSION || r.sha256 === versionTag(m.chunks);
  }

  /** The earlier copy of a packed folder that a newer version replaces, if it is still there. */
  private earlierCopy(m: Manifest): string | undefined {
    const r = this.node.db.received(m.fileId);
    if (m.version !== PACKED_MANIFEST_VERSION || r === null || !isReceived(r.path) || r.sha256 === versionTag(m.chunks)) return undefined;
    return existsSync(r.path) ? r.path : undefined;
  }

  /**
   * A newer version of a file this sender sent before, under the same name: it replaces the copy
   * here when that copy is exactly as it was received; a copy edited here since is never
   * overwritten (the new version lands beside it, and the event says so).
   */
  private async earlierVersion(m: Manifest, name: string): Promise<{ replace?: string; keptLocalEdit: boolean }> {
    // Where it is: the downloads folder, or received/ of a home an earlier p2pfx filled (LocalNode.receivingFolders).
    for (const target of this.node.receivingFolders().map((dir) => join(dir, name))) {
      const earlier = this.node.db.receivedFrom(m.sender.nodeId, target);
      if (earlier === null) continue;
      if (earlier.fileId === m.fileId || earlier.createdAt > m.createdAt) return { keptLocalEdit: false };
      if ((await unchangedCopy(this.node, earlier.fileId)) === target) return { replace: target, keptLocalEdit: false };
      return { keptLocalEdit: existsSync(target) };
    }
    return { keptLocalEdit: false };
  }

  /** The sealed metadata, opened with this node's own key (no password: nobody is asked). */
  private async metadata(m: Manifest): Promise<FileMetadata> {
    const fileId = Buffer.from(m.fileId, 'hex');
    const key = await unlockDataKey(m.envelopes, fileId, this.node.creds, { label: m.fileId });
    return openMetadata(m.metadata, key, fileId, m.version);
  }

  private catching: Promise<void> | null = null;

  /** Resolves when nothing is queued or running (the start-up catch-up included). */
  async idle(): Promise<void> {
    await this.catching;
    while (this.running) await this.running;
  }

  /** Drops what is queued and waits for the file being reassembled, if any. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (let m = this.queue.shift(); m !== undefined; m = this.queue.shift()) {
      const who = { sender: m.sender.nodeId, senderName: senderName(m) };
      try {
        // Checked again now: its signer may have been revoked since it was stored.
        await checkManifest(m, this.node.creds.caCertPem, this.node.revocation.current());
        const meta = await this.metadata(m);
        const pool = this.pool ? { pool: this.pool } : {};
        if (meta.inFolder === true) continue; // its folder index brings it
        if (meta.kind === 'folder') {
          const replace = this.earlierCopy(m);
          const r = await getFolder({ node: this.node, folderFileId: m.fileId, ...pool, ...(replace === undefined ? {} : { replace }) });
          this.onEvent({
            type: 'received', kind: 'folder', fileId: m.fileId, name: r.name, path: r.path, size: r.bytes, sha256: r.sha256, files: r.files, dirs: r.dirs,
            updated: replace !== undefined, localChanges: r.localChanges ?? null, ...who,
          });
          continue;
        }
        const { replace, keptLocalEdit } = await this.earlierVersion(m, meta.name);
        const r = await receiveFile({ node: this.node, manifest: m, ...pool, ...(replace === undefined ? {} : { replace }) });
        // Disk used once: the file, now in place and recorded, stands for its chunks.
        if (!r.alreadyHere) await this.node.fileChunks.adopt(m, this.node.store).catch(() => 0);
        this.onEvent({ type: 'received', kind: 'file', fileId: m.fileId, name: r.name, path: r.path, size: r.size, sha256: r.sha256, updated: replace !== undefined, keptLocalEdit, ...who });
      } catch (err) {
        const e = toP2pfxError(err);
        this.onEvent({ type: 'failed', fileId: m.fileId, ...who, code: e.code, message: e.message });
      } finally {
        this.queued.delete(m.fileId);
      }
    }
  }
}

/**
 * Whether a file was received for good. A path inside a partial-downloads folder is not: a folder
 * whose index was read but whose files did not all arrive is tried again.
 */
function isReceived(path: string | null): boolean {
  return path !== null && !path.split(sep).includes(PARTIAL_DIR);
}

function senderName(m: Manifest): string {
  try {
    return commonNameOf(m.sender.certPem);
  } catch {
    return '';
  }
}
