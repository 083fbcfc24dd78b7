// The node's web UI (DESIGN "Web interface"): a page and a small local JSON API on 127.0.0.1
// only, behind a random token (as Jupyter does). Every request's Host must be the loopback
// address and port served (DNS rebinding); every API call carries the token in a header (no
// cookie is used at all: nothing a browser sends on its own opens the API — CSRF). The API calls the same transfer/ functions as the CLI: no logic of its own.
import { holdsCa } from '../store/ca-home.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { P2pfxError } from '../core/errors.js';
import { pathProblem } from '../core/folder-index.js';
import { isFileId } from '../core/ids.js';
import type { PeerClient } from '../net/client.js';
import { InviteDesk } from '../node/invite-desk.js';
import { listenOrExplain } from '../net/listen.js';
import { formatPeer, parsePeer } from '../net/peer-address.js';
import { clientFor, confirmPeer, resolvePeers, type PeerTarget } from '../net/peers.js';
import { createHttpFront } from '../net/http-front.js';
import type { LocalNode } from '../store/local-node.js';
import { listCatalogAcross, newestVersions, resolveTarget } from '../transfer/catalog.js';
import { fetchTarget } from '../transfer/fetch.js';
import type { InboxEvent } from '../transfer/inbox.js';
import { sendToPeers } from '../transfer/send-to-peers.js';
import { loadUiFiles } from '../own-files.js';
import { VERSION } from '../version.js';
import { lanAddress } from '../net/host-info.js';
import type { Catalog, Chunks, Invite, NodeInfo, Peer, ReceivedEvent, Transfer } from './api-types.js';
import { Jobs, type TransferView } from './jobs.js';
import { TOKEN_HELP_HEADERS, TOKEN_HELP_HTML } from './token-help.js';

const TOKEN_HEADER = 'x-p2pfx-token';
/** Where the page is served (with the token in the URL); every other path is an asset or the API. */
const PAGE_PATHS: ReadonlySet<string> = new Set(['/', '/index.html']);
/** How long a peer may take to answer when the UI checks who is reachable. */
const CHECK_TIMEOUT_MS = 3000;
const EVENT_HEARTBEAT_MS = 15_000;
/** An upload of a large file from the page is one request: it may take this long. */
const UI_REQUEST_TIMEOUT_MS = 3_600_000;

export interface UiServerOptions {
  node: LocalNode;
  /** The node's API, when this process serves it (shown on "This node"). */
  serving: { host: string; port: number } | null;
  port: number;
  /** A fixed token (tests); a random one otherwise. */
  token?: string;
  logger?: boolean | Record<string, unknown>;
}

export interface UiServer {
  app: FastifyInstance;
  port: number;
  token: string;
  /** The URL to open: it carries the token. */
  url: string;
  /** Passes a file reassembled by the node's inbox on to the page. */
  onInbox(e: InboxEvent): void;
  close(): Promise<void>;
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const { node } = opts;
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const jobs = new Jobs();
  const streams = new Set<FastifyReply>();
  let port = 0;
  // Uploads stream through (application/octet-stream), so a request may take long; the page's
  // event stream is hijacked and outlives any request timeout.
  const app = await createHttpFront({
    logger: opts.logger ?? false, bodyLimit: 64 * 1024, requestTimeoutMs: UI_REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: 65_000, withHint: true,
  });

  const broadcast = (event: string, data: unknown): void => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const reply of streams) reply.raw.write(frame);
  };
  jobs.subscribe((t) => broadcast('transfer', t));

  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  // Who may ask: the right Host (no DNS rebinding), and the token (header for the API).
  app.addHook('onRequest', async (request, reply) => {
    const host = request.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      throw new P2pfxError('UI_HOST_REFUSED', `this UI answers to 127.0.0.1:${port} only, not to ${JSON.stringify(host.slice(0, 100))}`);
    }
    const path = request.url.split('?')[0]!;
    const query = request.query as { token?: unknown };
    const header = request.headers[TOKEN_HEADER];
    let given: string | undefined;
    if (path === '/api/events') given = typeof query.token === 'string' ? query.token : undefined;
    else if (path.startsWith('/api/')) given = typeof header === 'string' ? header : undefined;
    else if (PAGE_PATHS.has(path)) given = typeof query.token === 'string' ? query.token : undefined;
    // The built scripts and styles are public (the same for everyone, no data in them); no cookie
    // is ever set, so the token cannot travel to another service on this machine.
    else return;
    if (given && sameToken(given, token)) return;
    // Someone opening the page without its link (a reload too: the page drops the token from the
    // address bar) is told how to open it; the API keeps its JSON error for scripts.
    if (request.method === 'GET' && PAGE_PATHS.has(path)) return reply.status(401).headers(TOKEN_HELP_HEADERS).send(TOKEN_HELP_HTML);
    throw new P2pfxError('UI_TOKEN_REQUIRED', 'this request needs the UI token');
  });

  // The page: index.html with the token for its scripts; the built assets beside it, served from
  // memory by exact path (a few files, read once): no request names a file on disk.
  const files = loadUiFiles();
  const page = async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const html = files.get('index.html')?.body.toString('utf8');
    if (html === undefined) return reply.status(503).type('text/plain').send('The web UI is not built: run `npm run build`.');
    void reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'");
    void reply.header('x-frame-options', 'DENY');
    void reply.header('referrer-policy', 'no-referrer'); // the URL carries the token
    return reply.type('text/html; charset=utf-8').send(html.replace('<head>', `<head>\n    <meta name="p2pfx-token" content="${token}">`));
  };
  for (const path of PAGE_PATHS) app.get(path, page);
  app.get('/*', async (request, reply) => {
    const path = request.url.split('?')[0]!.slice(1);
    const file = path === 'index.html' ? undefined : files.get(path); // the page only with its token and headers
    if (file === undefined) throw new P2pfxError('NOT_FOUND', `no file ${JSON.stringify(path.slice(0, 100))}`);
    // Vite names assets by their content's hash: they never change under one name.
    if (path.startsWith('assets/')) void reply.header('cache-control', 'public, max-age=31536000, immutable');
    return reply.type(file.type).send(file.body);
  });

  app.get('/api/node', async (): Promise<NodeInfo> => ({
    name: node.creds.name, nodeId: node.creds.nodeId, isCa: await holdsCa(node.home), version: VERSION, home: node.home.root, serving: opts.serving,
  }));

  app.get('/api/peers', async (): Promise<{ peers: Peer[] }> => {
    const book = node.db.listPeers();
    const reachable = await Promise.all(book.map((p) => check(node, p.nodeId)));
    return { peers: book.map((p, i) => ({ nodeId: p.nodeId, name: p.name, address: p.addresses[0] ? formatPeer(p.addresses[0]) : '', source: p.source, lastSeen: p.lastSeen, reachable: reachable[i] ?? null })) };
  });

  app.post<{ Body: { address?: unknown } }>('/api/peers', {
    schema: { body: { type: 'object', required: ['address'], properties: { address: { type: 'string', maxLength: 300 } } } },
  }, async (request) => {
    const peer = await confirmPeer(node, parsePeer(String(request.body.address)), { source: 'added' });
    broadcast('peers', {});
    return { peer };
  });

  app.get('/api/catalog', async (): Promise<Catalog> => {
    if (node.db.listPeers().length === 0) return { files: [], unreachable: [] };
    return withBook(node, undefined, async (clients) => {
      const { files, unreachable } = await listCatalogAcross(clients, node.creds);
      // Peers named as the Transfers tab names them: the book's name with the address.
      const names = new Map(node.db.listPeers().flatMap((p) => (p.addresses[0] ? [[formatPeer(p.addresses[0]), `${p.name} (${formatPeer(p.addresses[0])})`] as const] : [])));
      const named = (peer: string) => names.get(peer) ?? peer;
      return {
        files: newestVersions(files.filter((f) => f.inFolder !== true)).map((f) => ({ ...f, peers: f.peers.map(named) })),
        unreachable: unreachable.map((u) => ({ ...u, peer: named(u.peer) })),
      };
    });
  });

  app.get('/api/chunks', async (): Promise<Chunks> => {
    const usage = await node.store.usage();
    const fs = await statfs(node.home.root);
    const asFiles = { count: 0, bytes: 0, files: 0 };
    for (const f of node.db.fileChunks.files()) {
      asFiles.count += f.chunks;
      asFiles.bytes += f.bytes;
      asFiles.files++;
    }
    return { count: usage.count, bytes: usage.bytes, asFiles, disk: { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize }, chunks: await node.store.list('', 200) };
  });

  // Sending: the browser uploads the files into the node's home, then asks for the send.
  const uploadsDir = join(node.home.root, 'ui-uploads');
  app.post('/api/uploads', async () => {
    const uploadId = randomBytes(12).toString('hex');
    await mkdir(join(uploadsDir, uploadId), { recursive: true });
    return { uploadId };
  });

  app.put<{ Params: { uploadId: string }; Querystring: { path?: string } }>('/api/uploads/:uploadId/file', {
    schema: { params: { type: 'object', properties: { uploadId: { type: 'string', pattern: '^[0-9a-f]{24}$' } } }, querystring: { type: 'object', properties: { path: { type: 'string', maxLength: 4096 } } } },
  }, async (request) => {
    const root = join(uploadsDir, request.params.uploadId);
    if (!(await stat(root).then((s) => s.isDirectory(), () => false))) throw new P2pfxError('NOT_FOUND', `no upload ${request.params.uploadId}`);
    const rel = request.query.path ?? '';
    const problem = pathProblem(rel);
    if (problem !== null) throw new P2pfxError('BAD_REQUEST', `upload path ${JSON.stringify(rel)}: ${problem}`);
    const dest = join(root, ...rel.split('/'));
    const body = request.body as Readable | undefined;
    if (!body || typeof body.pipe !== 'function') throw new P2pfxError('UNSUPPORTED_MEDIA_TYPE', 'upload the bytes as application/octet-stream');
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.p2pfx-upload`;
    await pipeline(body, createWriteStream(tmp, { flags: 'wx' }));
    await rename(tmp, dest);
    return { path: rel, size: (await stat(dest)).size };
  });

  app.post<{ Body: { uploadId: string; peers?: string[] } }>('/api/send', {
    schema: { body: { type: 'object', required: ['uploadId'], properties: { uploadId: { type: 'string', pattern: '^[0-9a-f]{24}$' }, peers: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 80 } } } } },
  }, async (request) => {
    const root = join(uploadsDir, request.body.uploadId);
    const entries = await readdir(root, { withFileTypes: true }).catch(() => null);
    if (entries === null || entries.length === 0) throw new P2pfxError('NOT_FOUND', `upload ${request.body.uploadId} holds nothing to send`);
    const targets = resolvePeers(node, request.body.peers);
    const one = entries.length === 1 ? entries[0]! : null;
    const folder = one === null || one.isDirectory();
    const what = one === null ? root : join(root, one.name);
    const name = one === null ? `${entries.length} files` : one.name;
    const transfer = jobs.start({ direction: 'send', name, folder, peers: targets.map(peerLabel) }, async (signal, onProgress) => {
      const clients = targets.map((t) => clientFor(node, t));
      try {
        const runs = await sendToPeers({ node, clients, path: what, signal, progressFor: () => onProgress });
        const failed = runs.flatMap((r) => (r.ok ? [] : [r]));
        if (failed.length > 0) {
          const sentTo = runs.filter((r) => r.ok).map((r) => r.client.label);
          const first = failed[0]!.error;
          throw new P2pfxError(first.code, `${failed.map((f) => `not sent to ${f.client.label}: ${f.error.message}`).join('; ')}${sentTo.length > 0 ? `; sent to ${sentTo.join(', ')}` : ''}`, { hint: first.hint, cause: first });
        }
        await rm(root, { recursive: true, force: true }); // sent: the peers hold it now
        const last = runs.at(-1)!;
        return { fileId: last.ok ? (last.folder?.folderFileId ?? last.file!.fileId) : undefined };
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
    return { transfer };
  });

  app.post<{ Body: { fileId: string; peers?: string[] } }>('/api/get', {
    schema: { body: { type: 'object', required: ['fileId'], properties: { fileId: { type: 'string' }, peers: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 80 } } } } },
  }, async (request) => {
    const { fileId } = request.body;
    if (!isFileId(fileId)) throw new P2pfxError('INVALID_ID', `not a file id: ${JSON.stringify(String(fileId).slice(0, 80))}`);
    const targets = resolvePeers(node, request.body.peers);
    const target = await withBook(node, request.body.peers, (clients) => resolveTarget(clients, node.creds, fileId));
    const transfer = jobs.start({ direction: 'get', name: target.name ?? fileId, folder: target.kind === 'folder', peers: targets.map(peerLabel) }, async (signal, onProgress) => {
      const clients = targets.map((t) => clientFor(node, t));
      try {
        const fetched = await fetchTarget(target, { node, clients, onProgress, signal });
        return { path: fetched.kind === 'folder' ? fetched.folder.path : fetched.file.path, fileId };
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
    return { transfer };
  });

  app.get('/api/transfers', async (): Promise<{ transfers: Transfer[] }> => ({ transfers: jobs.list() }));
  const byId = (id: string, f: (id: string) => TransferView | null): { transfer: TransferView } => {
    const t = f(id);
    if (!t) throw new P2pfxError('NOT_FOUND', `no transfer ${id}`);
    return { transfer: t };
  };
  app.post<{ Params: { id: string } }>('/api/transfers/:id/cancel', async (request) => byId(request.params.id, (id) => jobs.cancel(id)));
  app.post<{ Params: { id: string } }>('/api/transfers/:id/retry', async (request) => byId(request.params.id, (id) => jobs.retry(id)));

  const desk = new InviteDesk(node.home, (e) => broadcast('joined', { name: e.name, nodeId: e.nodeId }), opts.serving?.port);
  app.post('/api/invite', async (): Promise<Invite> => {
    if (!(await holdsCa(node.home))) throw new P2pfxError('CA_KEY_MISSING', 'only the CA machine can invite');
    const invite = await desk.invite();
    return { code: invite.code, expiresAt: invite.expiresAt.toISOString(), join: `p2pfx join ${formatPeer({ host: lanAddress(), port: invite.port })} ${invite.code}` };
  });

  // Live: transfers, files received, peers. Server-sent events (the token is in the URL: an
  // EventSource cannot set headers; it only reads).
  app.get('/api/events', (request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.write(': p2pfx\n\n');
    streams.add(reply);
    const beat = setInterval(() => reply.raw.write(': beat\n\n'), EVENT_HEARTBEAT_MS);
    request.raw.on('close', () => {
      clearInterval(beat);
      streams.delete(reply);
    });
  });

  port = await listenOrExplain(app, '127.0.0.1', opts.port, '--ui-port');
  return {
    app, port, token, url: `http://127.0.0.1:${port}/?token=${token}`,
    onInbox: (e) => {
      if (e.type === 'received') broadcast('received', { name: e.name, path: e.path, kind: e.kind, senderName: e.senderName } satisfies ReceivedEvent);
    },
    close: async () => {
      await jobs.close();
      for (const reply of streams) reply.raw.end();
      streams.clear();
      await desk.close();
      await app.close();
    },
  };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}


/** Whether a book peer answers now (true/false), within CHECK_TIMEOUT_MS. */
async function check(node: LocalNode, nodeId: string): Promise<boolean> {
  const [target] = resolvePeers(node, [nodeId]);
  const client = clientFor(node, target!, { connections: 1, connectTimeoutMs: CHECK_TIMEOUT_MS, idleTimeoutMs: CHECK_TIMEOUT_MS });
  try {
    await client.health();
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

async function withBook<T>(node: LocalNode, peers: string[] | undefined, fn: (clients: PeerClient[]) => Promise<T>): Promise<T> {
  const clients = resolvePeers(node, peers).map((t) => clientFor(node, t, { connectTimeoutMs: CHECK_TIMEOUT_MS }));
  try {
    return await fn(clients);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** How a transfer names a peer: its book name with its address. */
function peerLabel(t: PeerTarget): string {
  return t.name ? `${t.name} (${formatPeer(t.address)})` : formatPeer(t.address);
}
