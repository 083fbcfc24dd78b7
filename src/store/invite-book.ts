// The CA machine's open and past invites (`p2pfx invite`), in the node's p2pfx.db. A table of its
// own on its own connection: enrollment runs without the rest of the node (no chunk store, no
// catalog), and `CREATE TABLE IF NOT EXISTS` keeps it out of the index's numbered migrations.
// Holds the scrypt code key of each invite, never the code: a copy of the database does not let
// anyone join, short of guessing 65-bit codes through scrypt while the invite is open.
import { randomBytes } from 'node:crypto';
import { P2pfxError } from '../core/errors.js';
import { Sqlite } from './sqlite.js';

const SCHEMA = `CREATE TABLE IF NOT EXISTS invites (
  id              TEXT PRIMARY KEY,
  secret          BLOB NOT NULL,
  created_at      TEXT NOT NULL,
  expires_at      TEXT NOT NULL,
  used_at         TEXT,
  used_by_node_id TEXT,
  used_by_name    TEXT
)`;
const ID_BYTES = 16;
const SECRET_BYTES = 32;

export type InviteState = 'pending' | 'used' | 'expired';

export interface Invite {
  id: string;
  /** The code key (scrypt of the code): what both ends derive their MAC keys from. */
  secret: Buffer;
  /** ISO 8601 times, as the rest of p2pfx.db. */
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedByNodeId: string | null;
  usedByName: string | null;
}

/** Outcome of claiming an invite for a joiner: only 'claimed' may hand out the certificate. */
export type ClaimResult = 'claimed' | 'used' | 'expired' | 'missing';

const COLUMNS = `id, secret, created_at AS createdAt, expires_at AS expiresAt, used_at AS usedAt,
  used_by_node_id AS usedByNodeId, used_by_name AS usedByName`;

/** Used first (a used invite stays used after its time is up), then expired, else pending. */
export function inviteState(invite: Invite, now: Date = new Date()): InviteState {
  if (invite.usedAt !== null) return 'used';
  return Date.parse(invite.expiresAt) <= now.getTime() ? 'expired' : 'pending';
}

/** SQLite gives a BLOB back as a Uint8Array; the code key is used as a Buffer. */
function withBufferSecret(row: Invite): Invite {
  return { ...row, secret: Buffer.from(row.secret) };
}

export class InviteBook {
  private readonly db: Sqlite;

  constructor(dbPath: string) {
    this.db = new Sqlite(dbPath); // `invite` and `serve` may share the file: WAL, busy timeout
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  /** Stores a new pending invite for `secret` (the code key), open for ttlMs from `now`. */
  create(secret: Uint8Array, ttlMs: number, now: Date = new Date()): Invite {
    if (secret.length !== SECRET_BYTES) throw new P2pfxError('INVALID_ARGUMENT', `an invite's code key is ${SECRET_BYTES} bytes, got ${secret.length}`);
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new P2pfxError('INVALID_ARGUMENT', `an invite's lifetime must be a positive number of milliseconds, got ${ttlMs}`);
    const invite: Invite = {
      id: randomBytes(ID_BYTES).toString('hex'),
      secret: Buffer.from(secret),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
      usedAt: null,
      usedByNodeId: null,
      usedByName: null,
    };
    this.db.run('INSERT INTO invites (id, secret, created_at, expires_at) VALUES (?, ?, ?, ?)', invite.id, invite.secret, invite.createdAt, invite.expiresAt);
    return invite;
  }

  get(id: string): Invite | null {
    const row = this.db.get<Invite>(`SELECT ${COLUMNS} FROM invites WHERE id = ?`, id);
    return row === undefined ? null : withBufferSecret(row);
  }

  /** Every invite kept, pending or not: a joiner's MAC is tried against each, to say used or expired rather than unknown. */
  list(): Invite[] {
    return this.db.all<Invite>(`SELECT ${COLUMNS} FROM invites ORDER BY created_at, id`).map(withBufferSecret);
  }

  /**
   * Marks a pending invite used by a joiner, in one transaction: of two joiners racing with the
   * same code (in this process or another on the same file), exactly one gets 'claimed'.
   */
  claim(id: string, by: { nodeId: string; name: string }, now: Date = new Date()): ClaimResult {
    // The read and the write hold the write lock together (Sqlite.transaction is IMMEDIATE).
    return this.db.transaction((): ClaimResult => {
      const invite = this.get(id);
      if (invite === null) return 'missing';
      const state = inviteState(invite, now);
      if (state !== 'pending') return state;
      this.db.run('UPDATE invites SET used_at = ?, used_by_node_id = ?, used_by_name = ? WHERE id = ? AND used_at IS NULL', now.toISOString(), by.nodeId, by.name, id);
      return 'claimed';
    });
  }

  /** Ends a pending invite now (`invite` cancelled): its code stops working even if a listener is still up. */
  withdraw(id: string, now: Date = new Date()): void {
    this.db.run('UPDATE invites SET expires_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?', now.toISOString(), id, now.toISOString());
  }

  /** Forgets invites whose time ended before `before` (used or not); returns how many. */
  prune(before: Date): number {
    return this.db.run('DELETE FROM invites WHERE expires_at < ?', before.toISOString());
  }
}
