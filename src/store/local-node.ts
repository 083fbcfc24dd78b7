// Everything a command needs of this node's home, opened together and closed together.
import { ChunkStore } from './chunk-store.js';
import { loadCredentials, type Credentials } from './credentials.js';
import { FileChunks } from './file-chunks.js';
import { DOWNLOADS_SETTING, resolveDownloads, type Downloads } from './downloads.js';
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
  /** Where files sent to this node land, and a download with no folder given (downloads.ts); made by whoever writes there first. */
  readonly downloads: Downloads;

  private constructor(home: Home, creds: Credentials, store: ChunkStore, db: IndexDb, revocation: Revocation, downloads: Downloads) {
    this.home = home;
    this.downloads = downloads;
    this.creds = creds;
    this.store = store;
    this.db = db;
    this.revocation = revocation;
    this.fileChunks = new FileChunks(db, creds);
    store.backWith(this.fileChunks);
  }

  /**
   * Throws CERTS_MISSING before creating anything when the home has no certificates.
   * `downloads`: `serve --downloads`, which wins over $P2PFX_DOWNLOADS and the home's setting.
   */
  static async open(home: Home, opts: { downloads?: string | undefined } = {}): Promise<LocalNode> {
    const creds = await loadCredentials(home);
    const store = await new ChunkStore(home.chunksDir).init();
    const db = new IndexDb(home.dbPath);
    try {
      const downloads = resolveDownloads(home, { option: opts.downloads, setting: db.getSetting(DOWNLOADS_SETTING) });
      return new LocalNode(home, creds, store, db, await Revocation.load(home, creds, db), downloads);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Where files sent to this node land. */
  get downloadsDir(): string {
    return this.downloads.dir;
  }

  /**
   * Where an earlier version of a file sent here may be, to be replaced where it is: the
   * downloads folder, then received/ of the home, where p2pfx up to 0.1 put every file.
   */
  receivingFolders(): string[] {
    return [...new Set([this.downloads.dir, this.home.receivedDir])];
  }

  close(): void {
    this.db.close();
  }
}
