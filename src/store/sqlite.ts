// One SQLite connection on Node's built-in `node:sqlite` (no native addon to build): the few
// things the built-in leaves to its callers, in one place — WAL and a busy timeout so the server,
// the CLI and the UI can share one p2pfx.db, cached statements, plain row objects, and
// transactions (nested ones become savepoints).
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

/** How long a statement waits for another process's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

export type SqlValue = SQLInputValue;

export class Sqlite {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private savepoints = 0;

  constructor(path: string) {
    this.db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
  }

  get isOpen(): boolean {
    return this.db.isOpen;
  }

  close(): void {
    if (!this.db.isOpen) return;
    this.statements.clear();
    this.db.close();
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** The first row, as a plain object (node:sqlite gives null-prototype ones), or undefined. */
  get<T>(sql: string, ...params: SqlValue[]): T | undefined {
    const row = this.statement(sql).get(...params);
    return row === undefined ? undefined : ({ ...row } as T);
  }

  all<T>(sql: string, ...params: SqlValue[]): T[] {
    return this.statement(sql).all(...params).map((row) => ({ ...row }) as T);
  }

  /** Runs a write; returns how many rows it changed. */
  run(sql: string, ...params: SqlValue[]): number {
    return Number(this.statement(sql).run(...params).changes);
  }

  /** A pragma's single value (`user_version`, `journal_mode`…). */
  pragma(name: string): unknown {
    const row = this.statement(`PRAGMA ${name}`).get();
    return row === undefined ? undefined : Object.values(row)[0];
  }

  /**
   * Runs `fn` in a write transaction: committed if it returns, rolled back if it throws. It takes
   * the write lock at BEGIN (IMMEDIATE), waiting up to the busy timeout for another process: a
   * deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
   * process wrote in between (WAL cannot upgrade a stale read), whatever the timeout. Called
   * inside another transaction, it becomes a savepoint of that one. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    if (this.db.isTransaction) return this.savepoint(fn);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private savepoint<T>(fn: () => T): T {
    const name = `sp${++this.savepoints}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      this.db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      this.savepoints--;
    }
  }

  private statement(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}
