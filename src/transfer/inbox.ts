// Files sent to this node: when a manifest carrying an envelope for this node arrives, the
// running node reassembles the file into its received/ folder on its own, checked as a download
// is. One file at a time, in arrival order; a file already received is not written twice.
import type { Manifest } from '../core/manifest.js';
import { toP2pfxError } from '../core/errors.js';
import { commonNameOf } from '../pki/cert-pem.js';
import type { LocalNode } from '../store/local-node.js';
import type { CryptoPool } from './crypto-pool.js';
import { receiveFile } from './get.js';
import { hasOwnEnvelope } from './unlock.js';

export type InboxEvent =
  | { type: 'received'; fileId: string; name: string; path: string; size: number; sha256: string; sender: string; senderName: string }
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
    if (this.closed || !this.isForMe(m) || this.queued.has(m.fileId) || this.node.db.receivedPath(m.fileId) !== null) return;
    this.queue.push(m);
    this.queued.add(m.fileId);
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Files addressed to this node whose reassembly never finished (the node was stopped). */
  catchUp(): void {
    for (const m of this.node.db.listManifests().reverse()) this.offer(m);
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
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
        const r = await receiveFile({ node: this.node, manifest: m, ...(this.pool ? { pool: this.pool } : {}) });
        this.onEvent({ type: 'received', fileId: m.fileId, name: r.name, path: r.path, size: r.size, sha256: r.sha256, ...who });
      } catch (err) {
        const e = toP2pfxError(err);
        this.onEvent({ type: 'failed', fileId: m.fileId, ...who, code: e.code, message: e.message });
      } finally {
        this.queued.delete(m.fileId);
      }
    }
  }
}

function senderName(m: Manifest): string {
  try {
    return commonNameOf(m.sender.certPem);
  } catch {
    return '';
  }
}
