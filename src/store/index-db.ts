// The node's index (p2pfx.db, SQLite in WAL mode): the catalog of manifests and the send
// journal. Migrations are numbered by PRAGMA user_version.
import { chmodSync } from 'node:fs';
import type { Manifest } from '../core/manifest.js';
import { FileChunkTable } from './file-chunk-table.js';
import { Sqlite } from './sqlite.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE manifests (
     file_id     TEXT PRIMARY KEY,
     json        TEXT NOT NULL,
     sender      TEXT NOT NULL,
     created_at  TEXT NOT NULL,
     chunk_count INTEGER NOT NULL,
     total_bytes INTEGER NOT NULL,
     stored_at   TEXT NOT NULL
   );
   CREATE TABLE send_journal (
     path         TEXT NOT NULL,
     chunk_size   INTEGER NOT NULL,
     size         INTEGER NOT NULL,
     mtime_ms     REAL NOT NULL,
     file_id      TEXT NOT NULL UNIQUE,
     key_envelope TEXT NOT NULL,
     nonce_prefix TEXT NOT NULL,
     sha256       TEXT,
     updated_at   TEXT NOT NULL,
     PRIMARY KEY (path, chunk_size)
   );
   CREATE TABLE sealed_chunks (
     file_id  TEXT NOT NULL,
     idx      INTEGER NOT NULL,
     chunk_id TEXT NOT NULL,
     size     INTEGER NOT NULL,
     PRIMARY KEY (file_id, idx)
   ) WITHOUT ROWID;`,
  `CREATE TABLE partial_downloads (
     file_id      TEXT PRIMARY KEY,
     nonce_prefix TEXT NOT NULL,
     updated_at   TEXT NOT NULL
   );`,
  `CREATE TABLE received_files (
     file_id     TEXT PRIMARY KEY,
     path        TEXT NOT NULL,
     sha256      TEXT NOT NULL,
     received_at TEXT NOT NULL
   );
   CREATE TABLE issued_certs (
     serial_hex  TEXT PRIMARY KEY,
     node_id     TEXT NOT NULL,
     name        TEXT NOT NULL,
     cert_pem    TEXT NOT NULL,
     issued_at   TEXT NOT NULL,
     revoked_at  TEXT
   );`,
  `CREATE TABLE crl_facts (
     pem_sha256  TEXT PRIMARY KEY,
     json        TEXT NOT NULL
   );`,
  `CREATE TABLE peers (
     node_id     TEXT PRIMARY KEY,
     name        TEXT NOT NULL,
     addresses   TEXT NOT NULL,
     last_seen   TEXT NOT NULL,
     added_at    TEXT NOT NULL,
     source      TEXT NOT NULL
   );`,
  `CREATE TABLE settings (
     key    TEXT PRIMARY KEY,
     value  TEXT NOT NULL
   );`,
  // Format v2: a file is sent and received without a whole-file SHA-256 (DESIGN "Formats"). The
  // journal marks a file read to the end with \`complete\` (sha256 only where it was hashed), and a
  // received file may have no digest.
  `ALTER TABLE send_journal ADD COLUMN complete INTEGER NOT NULL DEFAULT 0;
   UPDATE send_journal SET complete = 1 WHERE sha256 IS NOT NULL;
   CREATE TABLE received_files_v2 (
     file_id     TEXT PRIMARY KEY,
     path        TEXT NOT NULL,
     sha256      TEXT,
     received_at TEXT NOT NULL
   );
   INSERT INTO received_files_v2 SELECT file_id, path, sha256, received_at FROM received_files;
   DROP TABLE received_files;
   ALTER TABLE received_files_v2 RENAME TO received_files;`,
  // Issue 16: a received file's size and mtime as written, so that a later version can tell
  // whether the copy here was edited since (then it is kept, never overwritten).
  `ALTER TABLE received_files ADD COLUMN size INTEGER;
   ALTER TABLE received_files ADD COLUMN mtime_ms REAL;`,
  // Issue 16: a file received here stands for its chunks (store/file-chunks.ts): each chunk is
  // made again from the file, at its index, under the file's key and nonce prefix.
  `CREATE TABLE backed_files (
     file_id      TEXT PRIMARY KEY,
     nonce_prefix TEXT NOT NULL,
     chunk_size   INTEGER NOT NULL,
     chunk_count  INTEGER NOT NULL
   );
   CREATE TABLE file_chunks (
     chunk_id TEXT PRIMARY KEY,
     file_id  TEXT NOT NULL,
     idx      INTEGER NOT NULL,
     size     INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX file_chunks_by_file ON file_chunks (file_id);`,
];

/** Addresses kept per peer, most recently confirmed first. */
const MAX_PEER_ADDRESSES = 4;

export interface ManifestSummary {
  fileId: string;
  sender: string;
  createdAt: string;
  chunkCount: number;
  totalBytes: number;
}

/** A peer whose node id a mutual-TLS handshake confirmed at one of its addresses. */
export interface BookPeer {
  nodeId: string;
  name: string;
  /** Most recently confirmed first. */
  addresses: Array<{ host: string; port: number; seenAt: string }>;
  lastSeen: string;
  addedAt: string;
  /**
   * How it came last: added by hand, discovered on the LAN (and then confirmed), or said hello
   * (its client certificate gave its id, the connection its address: `join`, and `serve` at start).
   */
  source: 'added' | 'discovered' | 'hello';
}

export interface ReceivedFile {
  fileId: string;
  path: string;
  sha256: string | null;
  size: number | null;
  mtimeMs: number | null;
}

export interface IssuedCert {
  serialHex: string;
  nodeId: string;
  name: string;
  certPem: string;
  issuedAt: string;
  revokedAt: string | null;
}

/** One file being sent: its key stays the same only while path, size and mtime do. */
export interface SendJournalEntry {
  path: string;
  chunkSize: number;
  size: number;
  mtimeMs: number;
  fileId: string;
  keyEnvelope: string; // JSON of an x25519 envelope for this node
  noncePrefix: string; // hex
  /** The file was read to the end once under this key (every chunk sealed and journalled). */
  complete: boolean;
  sha256: string | null; // whole-file digest, when that run hashed the file
}

export class IndexDb {
  private readonly db: Sqlite;
  /** Received files that stand for their chunks (store/file-chunks.ts). */
  readonly fileChunks: FileChunkTable;

  constructor(path: string) {
    this.db = new Sqlite(path);
    // The catalog, the peer book and the paths of files sent: the owner's business only.
    try {
      chmodSync(path, 0o600);
    } catch {
      // a file system without modes
    }
    this.migrate();
    this.fileChunks = new FileChunkTable(this.db);
  }

  close(): void {
    this.db.close();
  }

  private migrate(): void {
    // Two processes opening a new home at once: the write lock is taken before user_version is
    // read, so each migration runs once.
    this.db.transaction(() => {
      const version = Number(this.db.pragma('user_version'));
      for (let v = version; v < MIGRATIONS.length; v++) {
        this.db.exec(MIGRATIONS[v]!);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      }
    });
  }

  /**
   * Stores a manifest that was already checked. A newer manifest of the same file from the same
   * sender replaces the old one (a resend may add key envelopes); anything else keeps the first.
   */
  putManifest(m: Manifest): 'created' | 'updated' | 'kept' {
    return this.db.transaction(() => {
      const old = this.db.get<{ sender: string; createdAt: string }>('SELECT sender, created_at AS createdAt FROM manifests WHERE file_id = ?', m.fileId);
      if (old && (old.sender !== m.sender.nodeId || Date.parse(old.createdAt) >= Date.parse(m.createdAt))) return 'kept';
      this.db.run(`INSERT OR REPLACE INTO manifests (file_id, json, sender, created_at, chunk_count, total_bytes, stored_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`, m.fileId, JSON.stringify(m), m.sender.nodeId, m.createdAt, m.chunkCount, m.totalBytes, new Date().toISOString());
      return old ? 'updated' : 'created';
    });
  }

  getManifestJson(fileId: string): string | null {
    const row = this.db.get<{ json: string }>('SELECT json FROM manifests WHERE file_id = ?', fileId);
    return row?.json ?? null;
  }

  /** Forgets a manifest (and where its file was received): true when there was one. */
  forgetManifest(fileId: string): boolean {
    return this.db.transaction(() => {
      this.fileChunks.drop(fileId);
      this.db.run('DELETE FROM received_files WHERE file_id = ?', fileId);
      return this.db.run('DELETE FROM manifests WHERE file_id = ?', fileId) > 0;
    });
  }

  getManifest(fileId: string): Manifest | null {
    const json = this.getManifestJson(fileId);
    return json === null ? null : (JSON.parse(json) as Manifest);
  }

  /** All manifests, newest first. */
  listManifests(): Manifest[] {
    const rows = this.db.all<{ json: string }>('SELECT json FROM manifests ORDER BY created_at DESC, file_id');
    return rows.map((r) => JSON.parse(r.json) as Manifest);
  }

  getJournal(path: string, chunkSize: number): SendJournalEntry | null {
    const row = this.db.get<Omit<SendJournalEntry, 'complete'> & { complete: number }>(`SELECT path, chunk_size AS chunkSize, size, mtime_ms AS mtimeMs, file_id AS fileId,
              key_envelope AS keyEnvelope, nonce_prefix AS noncePrefix, complete, sha256
       FROM send_journal WHERE path = ? AND chunk_size = ?`, path, chunkSize);
    return row === undefined ? null : { ...row, complete: row.complete === 1 };
  }

  /** Starts (or restarts, under a new file id) the journal of a file. */
  startJournal(e: SendJournalEntry): void {
    this.db.transaction(() => {
      const old = this.getJournal(e.path, e.chunkSize);
      if (old) {
        this.db.run('DELETE FROM sealed_chunks WHERE file_id = ?', old.fileId);
        this.db.run('DELETE FROM send_journal WHERE file_id = ?', old.fileId);
      }
      this.db.run(`INSERT INTO send_journal (path, chunk_size, size, mtime_ms, file_id, key_envelope, nonce_prefix, complete, sha256, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.path, e.chunkSize, e.size, e.mtimeMs, e.fileId, e.keyEnvelope, e.noncePrefix, e.complete ? 1 : 0, e.sha256, new Date().toISOString());
    });
  }

  /** The file was read to the end under this key; `sha256` when it was hashed on the way (kept if already known). */
  finishJournal(fileId: string, sha256: string | null): void {
    this.db.run('UPDATE send_journal SET complete = 1, sha256 = COALESCE(?, sha256), updated_at = ? WHERE file_id = ?', sha256, new Date().toISOString(), fileId);
  }

  /**
   * Records the ids of chunks sealed under a file's key before they leave this machine, so a
   * later run can tell whether re-sealing gives the same bytes (same plaintext) or not.
   */
  recordSealed(fileId: string, chunks: ReadonlyArray<{ index: number; id: string; size: number }>): void {
    this.db.transaction(() => {
      for (const c of chunks) this.db.run('INSERT OR REPLACE INTO sealed_chunks (file_id, idx, chunk_id, size) VALUES (?, ?, ?, ?)', fileId, c.index, c.id, c.size);
    });
  }

  /** The nonce prefix of a file being downloaded (read off its first blob), for a resumed get. */
  notePartial(fileId: string, noncePrefix: string): void {
    this.db.run('INSERT OR REPLACE INTO partial_downloads (file_id, nonce_prefix, updated_at) VALUES (?, ?, ?)', fileId, noncePrefix, new Date().toISOString());
  }

  partialNoncePrefix(fileId: string): string | null {
    const row = this.db.get<{ p: string }>('SELECT nonce_prefix AS p FROM partial_downloads WHERE file_id = ?', fileId);
    return row?.p ?? null;
  }

  forgetPartial(fileId: string): void {
    this.db.run('DELETE FROM partial_downloads WHERE file_id = ?', fileId);
  }

  /** A file reassembled into a folder of this node (by `get`, or on its own when sent here). */
  noteReceived(fileId: string, path: string, sha256: string | null, written?: { size: number; mtimeMs: number }): void {
    this.db.run('INSERT OR REPLACE INTO received_files (file_id, path, sha256, received_at, size, mtime_ms) VALUES (?, ?, ?, ?, ?, ?)',
      fileId, path, sha256, new Date().toISOString(), written?.size ?? null, written?.mtimeMs ?? null);
  }

  /**
   * Where a file or folder was received, the digest (or, for a packed folder, the version tag)
   * recorded then, and for a file the size and mtime it was written with (null before issue 16).
   */
  received(fileId: string): ReceivedFile | null {
    return this.db.get<ReceivedFile>('SELECT file_id AS fileId, path, sha256, size, mtime_ms AS mtimeMs FROM received_files WHERE file_id = ?', fileId) ?? null;
  }

  /** Every file and folder recorded as received here. */
  listReceived(): ReceivedFile[] {
    return this.db.all<ReceivedFile>('SELECT file_id AS fileId, path, sha256, size, mtime_ms AS mtimeMs FROM received_files');
  }

  /** The newest file received from `sender` at `path` (an earlier version of what it sends now), if any. */
  receivedFrom(sender: string, path: string): (ReceivedFile & { createdAt: string }) | null {
    return this.db.get<ReceivedFile & { createdAt: string }>(
      `SELECT r.file_id AS fileId, r.path, r.sha256, r.size, r.mtime_ms AS mtimeMs, m.created_at AS createdAt FROM received_files r
       JOIN manifests m ON m.file_id = r.file_id WHERE m.sender = ? AND r.path = ? ORDER BY m.created_at DESC LIMIT 1`, sender, path) ?? null;
  }

  receivedPath(fileId: string): string | null {
    const row = this.db.get<{ path: string }>('SELECT path FROM received_files WHERE file_id = ?', fileId);
    return row?.path ?? null;
  }

  /**
   * What a checked CRL says, under the SHA-256 of its PEM: a command that only consults the CRL
   * it holds reads this instead of parsing and verifying the CRL again.
   */
  crlFacts(pemSha256: string): string | null {
    const row = this.db.get<{ json: string }>('SELECT json FROM crl_facts WHERE pem_sha256 = ?', pemSha256);
    return row?.json ?? null;
  }

  putCrlFacts(pemSha256: string, json: string): void {
    this.db.transaction(() => {
      this.db.run('DELETE FROM crl_facts');
      this.db.run('INSERT INTO crl_facts (pem_sha256, json) VALUES (?, ?)', pemSha256, json);
    });
  }

  /**
   * Records that `nodeId` (confirmed by a handshake) answered at host:port now. A peer added by
   * hand stays 'added' when it is later discovered too.
   */
  notePeer(p: { nodeId: string; name: string; host: string; port: number; source: BookPeer['source'] }): BookPeer {
    return this.db.transaction(() => {
      const now = new Date().toISOString();
      const old = this.getPeer(p.nodeId);
      const addresses = [{ host: p.host, port: p.port, seenAt: now }, ...(old?.addresses ?? []).filter((a) => a.host !== p.host || a.port !== p.port)].slice(0, MAX_PEER_ADDRESSES);
      const source = old?.source === 'added' ? 'added' : p.source;
      this.db.run('INSERT OR REPLACE INTO peers (node_id, name, addresses, last_seen, added_at, source) VALUES (?, ?, ?, ?, ?, ?)', p.nodeId, p.name, JSON.stringify(addresses), now, old?.addedAt ?? now, source);
      return this.getPeer(p.nodeId)!;
    });
  }

  getPeer(nodeId: string): BookPeer | null {
    const row = this.db.get<Omit<BookPeer, 'addresses'> & { addresses: string }>('SELECT node_id AS nodeId, name, addresses, last_seen AS lastSeen, added_at AS addedAt, source FROM peers WHERE node_id = ?', nodeId);
    return row ? { ...row, addresses: JSON.parse(row.addresses) as BookPeer['addresses'] } : null;
  }

  listPeers(): BookPeer[] {
    const rows = this.db.all<Omit<BookPeer, 'addresses'> & { addresses: string }>('SELECT node_id AS nodeId, name, addresses, last_seen AS lastSeen, added_at AS addedAt, source FROM peers ORDER BY name, node_id');
    return rows.map((r) => ({ ...r, addresses: JSON.parse(r.addresses) as BookPeer['addresses'] }));
  }

  removePeer(nodeId: string): boolean {
    return this.db.run('DELETE FROM peers WHERE node_id = ?', nodeId) > 0;
  }

  getSetting(key: string): string | null {
    const row = this.db.get<{ value: string }>('SELECT value FROM settings WHERE key = ?', key);
    return row?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.db.run('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)', key, value);
  }

  /** Removes a setting: true when there was one. */
  deleteSetting(key: string): boolean {
    return this.db.run('DELETE FROM settings WHERE key = ?', key) > 0;
  }

  /** On the CA's machine: every certificate it issued, for `certs list` and `certs revoke`. */
  recordIssued(c: IssuedCert): void {
    this.db.run('INSERT OR REPLACE INTO issued_certs (serial_hex, node_id, name, cert_pem, issued_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)', c.serialHex, c.nodeId, c.name, c.certPem, c.issuedAt, c.revokedAt);
  }

  listIssued(): IssuedCert[] {
    return this.db.all<IssuedCert>('SELECT serial_hex AS serialHex, node_id AS nodeId, name, cert_pem AS certPem, issued_at AS issuedAt, revoked_at AS revokedAt FROM issued_certs ORDER BY issued_at, serial_hex');
  }

  markRevoked(serialHex: string, at: string): void {
    this.db.run('UPDATE issued_certs SET revoked_at = ? WHERE serial_hex = ? AND revoked_at IS NULL', at, serialHex);
  }

  /** Chunks sealed so far for a file, by index. */
  sealedChunks(fileId: string): Map<number, { id: string; size: number }> {
    const rows = this.db.all<{ idx: number; id: string; size: number }>('SELECT idx, chunk_id AS id, size FROM sealed_chunks WHERE file_id = ?', fileId);
    return new Map(rows.map((r) => [r.idx, { id: r.id, size: r.size }]));
  }
}
