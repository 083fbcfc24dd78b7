// The web UI's local JSON API (ui/server.ts), declared once: the server's handlers return these,
// and the page (ui/src/api.ts) imports them type-only. Types only, no imports: the page's build
// (browser, no Node types) reads this file as it is.

/** Every refusal: `{error: ApiErrorBody}` (the UI's answers carry the code's hint too). */
export interface ApiErrorBody {
  code: string;
  message: string;
  hint?: string;
}

/** GET /api/node */
export interface NodeInfo {
  name: string;
  nodeId: string;
  isCa: boolean;
  version: string;
  home: string;
  /** The node's API, when this process serves it. */
  serving: { host: string; port: number } | null;
}

/** One peer of the book, in GET /api/peers. */
export interface Peer {
  nodeId: string;
  name: string;
  /** host:port, as a user types it. */
  address: string;
  source: 'added' | 'discovered' | 'hello';
  lastSeen: string | null;
  /** Whether it answered just now (null: not asked). */
  reachable: boolean | null;
}

/** One file or folder of the merged catalog, in GET /api/catalog. */
export interface CatalogFile {
  fileId: string;
  name: string | null;
  kind: 'file' | 'folder' | null;
  size: number;
  chunkCount: number;
  createdAt: string;
  sender: string;
  senderName: string | null;
  access: 'key' | 'password' | 'none';
  /** The peers that hold it (host:port). */
  peers: string[];
  /** A folder: how many files it holds, where its sender said; else null. */
  files: number | null;
  /** Older versions of this name from the same sender (the row shows the newest). */
  olderVersions: number;
}

/** GET /api/catalog */
export interface Catalog {
  files: CatalogFile[];
  unreachable: Array<{ peer: string; code: string; message: string }>;
}

/** GET /api/chunks */
export interface Chunks {
  /** Sealed chunks in the store. */
  count: number;
  bytes: number;
  /** Chunks that files sent to this node stand for: kept once, as the files (DESIGN "Disk"). */
  asFiles: { count: number; bytes: number; files: number };
  disk: { freeBytes: number; totalBytes: number };
  chunks: Array<{ id: string; size: number }>;
}

export type TransferState = 'running' | 'done' | 'failed' | 'cancelled';

/** A transfer started from the page: GET /api/transfers, POST /api/send and /api/get, the 'transfer' event. */
export interface Transfer {
  id: string;
  direction: 'send' | 'get';
  name: string;
  folder: boolean;
  peers: string[];
  state: TransferState;
  doneBytes: number;
  totalBytes: number;
  doneFiles: number | null;
  totalFiles: number | null;
  mibPerSecond: number;
  etaSeconds: number | null;
  startedAt: string;
  error: Required<ApiErrorBody> | null;
  result: { path?: string; fileId?: string } | null;
}

/** POST /api/invite */
export interface Invite {
  code: string;
  join: string;
  expiresAt: string;
}

/** The 'received' event: a file or folder addressed to this node was written. */
export interface ReceivedEvent {
  name: string;
  path: string;
  kind: 'file' | 'folder';
  senderName: string | null;
}
