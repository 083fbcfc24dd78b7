// Everything a command needs of this node's home, opened together and closed together.
import { mkdir } from 'node:fs/promises';
import { ChunkStore } from './chunk-store.js';
import { loadCredentials, type Credentials } from './credentials.js';
import { FileChunks } from './file-chunks.js';
import type { Home } from './home.js';
import { Revocation } from './revocation.js';
import { IndexDb } from './index-db.js';

export class LocalNode {
  readonly home: Home;
  readonly creds: Credentials;
  readonly store: ChunkStore;
  readonly db: IndexDb;
  readonly revocation: Revocation;
  /** Received files standing for their chunks (disk used once); the store falls back to them. */
  readonly fileChunks: FileChunks;

  private constructor(home: Home, creds: Credentials, store: ChunkStore, db: IndexDb, revocation: Revocation) {
    this.home = home;
    this.creds = creds;
    this.store = store;
    this.db = db;
    this.revocation = revocation;
    this.fileChunks = new FileChunks(db, creds);
    store.backWith(this.fileChunks);
  }

  /** Throws CERTS_MISSING before creating anything when the home has no certificates. */
  static async open(home: Home): Promise<LocalNode> {
    const creds = await loadCredentials(home);
    await mkdir(home.receivedDir, { recursive: true, mode: 0o700 });
    const store = await new ChunkStore(home.chunksDir).init();
    const db = new IndexDb(home.dbPath);
    try {
      return new LocalNode(home, creds, store, db, await Revocation.load(home, creds, db));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }
}
