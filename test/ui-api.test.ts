// The web UI's local API, without a browser: who may ask (token, Host), and a send and a get
// through it between two real nodes, with their progress, cancel and retry.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startUiServer, type UiServer } from '../src/ui/server.js';
import type { TransferView } from '../src/ui/jobs.js';
import { makeNetwork, randomFile, tempDir, type TestNode } from './helpers/network.js';

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

async function ui(t: TestContext, n: TestNode): Promise<UiServer> {
  const server = await startUiServer({ node: n.node, serving: n.server ? { host: n.server.host, port: n.server.port } : null, port: 0 });
  t.after(() => server.close());
  return server;
}

function api(u: UiServer) {
  const base = `http://127.0.0.1:${u.port}`;
  return async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-p2pfx-token': u.token, ...(body === undefined || body instanceof Uint8Array ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as T };
  };
}

/** Polls the transfer list (bounded) until the transfer is no longer running. */
async function settled(call: ReturnType<typeof api>, id: string): Promise<TransferView> {
  for (let i = 0; i < 200; i++) {
    const { json } = await call<{ transfers: TransferView[] }>('GET', '/api/transfers');
    const t = json.transfers.find((x) => x.id === id);
    if (t && t.state !== 'running') return t;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`transfer ${id} still running`);
}

test('without the token: 401; with a foreign Host: 403; the page needs the token too', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const u = await ui(t, a);
  const noToken = await fetch(`http://127.0.0.1:${u.port}/api/node`);
  assert.equal(noToken.status, 401);
  assert.equal(((await noToken.json()) as { error: { code: string } }).error.code, 'UI_TOKEN_REQUIRED');
  assert.equal((await fetch(`http://127.0.0.1:${u.port}/api/node`, { headers: { 'x-p2pfx-token': 'wrong' } })).status, 401);
  assert.equal((await fetch(`http://127.0.0.1:${u.port}/`)).status, 401, 'the page itself');
  // Not the page, and not the help page: a POST to / is no page request.
  const post = await fetch(`http://127.0.0.1:${u.port}/`, { method: 'POST' });
  assert.equal(post.status, 401);
  assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'UI_TOKEN_REQUIRED');
  // A cookie alone does not open the API (CSRF).
  assert.equal((await fetch(`http://127.0.0.1:${u.port}/api/node`, { headers: { cookie: `p2pfx-ui=${u.token}` } })).status, 401);
  // DNS rebinding: a name that resolves to 127.0.0.1 but is not ours.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: u.port, path: '/api/node', headers: { host: `evil.example:${u.port}`, 'x-p2pfx-token': u.token } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 403);
  const ok = await api(u)<{ nodeId: string; isCa: boolean }>('GET', '/api/node');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.nodeId, a.node.creds.nodeId);
  assert.equal(u.url, `http://127.0.0.1:${u.port}/?token=${u.token}`);
});

test('send through the UI API (upload, send), then get it back on the other side; cancel and retry', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const ua = await ui(t, a);
  const callA = api(ua);
  // alpha adds beta to its book through the UI.
  const added = await callA<{ peer: { nodeId: string } }>('POST', '/api/peers', { address: `${b.server!.host}:${b.server!.port}` });
  assert.equal(added.status, 200, JSON.stringify(added.json));
  assert.equal(added.json.peer.nodeId, b.node.creds.nodeId);

  const data = await tempDir(t);
  const path = await randomFile(data, 'from-ui.bin', 2 * 1024 * 1024 + 3);
  const { json: up } = await callA<{ uploadId: string }>('POST', '/api/uploads', {});
  const put = await callA<{ size: number }>('PUT', `/api/uploads/${up.uploadId}/file?path=from-ui.bin`, new Uint8Array(await readFile(path)), { 'content-type': 'application/octet-stream' });
  assert.equal(put.json.size, 2 * 1024 * 1024 + 3);
  const bad = await callA<{ error: { code: string } }>('PUT', `/api/uploads/${up.uploadId}/file?path=..%2Fescape`, new Uint8Array([1]), { 'content-type': 'application/octet-stream' });
  assert.equal(bad.status, 400);
  const { json: started } = await callA<{ transfer: TransferView }>('POST', '/api/send', { uploadId: up.uploadId, peers: [b.node.creds.nodeId] });
  const sent = await settled(callA, started.transfer.id);
  assert.equal(sent.state, 'done', JSON.stringify(sent.error));
  assert.equal(sent.doneBytes, sent.totalBytes);
  await b.server!.inbox!.idle();
  assert.equal(await sha(join(b.home.receivedDir, 'from-ui.bin')), await sha(path));

  // alpha's catalog (its book: beta) lists it; alpha downloads it back from beta through its UI.
  const catalog = await callA<{ files: Array<{ fileId: string; name: string }> }>('GET', '/api/catalog');
  const entry = catalog.json.files.find((f) => f.name === 'from-ui.bin');
  assert.ok(entry, JSON.stringify(catalog.json));
  const { json: got } = await callA<{ transfer: TransferView }>('POST', '/api/get', { fileId: entry.fileId });
  const fetched = await settled(callA, got.transfer.id);
  assert.equal(fetched.state, 'done', JSON.stringify(fetched.error));
  assert.equal(await sha(fetched.result!.path!), await sha(path));

  // Cancel a download as it starts, then retry it: it completes.
  const { json: again } = await callA<{ transfer: TransferView }>('POST', '/api/get', { fileId: entry.fileId });
  await callA('POST', `/api/transfers/${again.transfer.id}/cancel`, {});
  const cancelled = await settled(callA, again.transfer.id);
  assert.ok(['cancelled', 'done'].includes(cancelled.state), cancelled.state);
  if (cancelled.state === 'cancelled') {
    assert.equal(cancelled.error?.code, 'CANCELLED');
    await callA('POST', `/api/transfers/${again.transfer.id}/retry`, {});
    assert.equal((await settled(callA, again.transfer.id)).state, 'done');
  }
});

test('the UI\'s clients honour $P2PFX_PEER_TIMEOUT_MS like the CLI\'s: a malformed value fails the transfer with INVALID_ARGUMENT naming it', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const b = await net.add('beta', { inbox: true });
  const call = api(await ui(t, a));
  assert.equal((await call('POST', '/api/peers', { address: `${b.server!.host}:${b.server!.port}` })).status, 200);
  const data = await tempDir(t);
  const path = await randomFile(data, 'timed.bin', 1000);
  const { json: up } = await call<{ uploadId: string }>('POST', '/api/uploads', {});
  await call('PUT', `/api/uploads/${up.uploadId}/file?path=timed.bin`, new Uint8Array(await readFile(path)), { 'content-type': 'application/octet-stream' });
  const before = process.env.P2PFX_PEER_TIMEOUT_MS;
  process.env.P2PFX_PEER_TIMEOUT_MS = 'soon';
  try {
    const { json: started } = await call<{ transfer: TransferView }>('POST', '/api/send', { uploadId: up.uploadId, peers: [b.node.creds.nodeId] });
    const failed = await settled(call, started.transfer.id);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'INVALID_ARGUMENT');
    assert.match(failed.error?.message ?? '', /\$P2PFX_PEER_TIMEOUT_MS must be a whole number of milliseconds/);
  } finally {
    if (before === undefined) delete process.env.P2PFX_PEER_TIMEOUT_MS;
    else process.env.P2PFX_PEER_TIMEOUT_MS = before;
  }
  assert.deepEqual(b.node.db.listManifests(), [], 'beta got nothing');
});

test('the page without its token: a fixed help page (401, no script, nothing of the request in it); with it, / and /index.html are the page', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const u = await ui(t, a);
  const marker = 'zq-reflected-7f3a';
  const answers = await Promise.all([
    `/`, `/index.html`, `/?token=${marker}`, `/index.html?${marker}=<b>${marker}</b>#${marker}`,
  ].map((path) => fetch(`http://127.0.0.1:${u.port}${path}`, { headers: { accept: 'text/html', 'x-p2pfx-token': u.token, 'user-agent': marker } })));
  const bodies = await Promise.all(answers.map((r) => r.text()));
  for (const [i, res] of answers.entries()) {
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(res.headers.get('content-security-policy') ?? '', /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*';/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('set-cookie'), null);
    assert.match(bodies[i]!, /<code>p2pfx ui<\/code>/);
    assert.doesNotMatch(bodies[i]!, /<script|UI_TOKEN_REQUIRED/);
    assert.ok(!bodies[i]!.includes(marker), 'nothing of the request is reflected');
    assert.ok(!bodies[i]!.includes(u.token), 'the header token does not open the page, nor is it shown');
  }
  assert.equal(new Set(bodies).size, 1, 'one fixed page');
  // The hash in the CSP is the page's one style block.
  const style = /<style>(.*?)<\/style>/s.exec(bodies[0]!)![1]!;
  assert.ok(answers[0]!.headers.get('content-security-policy')!.includes(createHash('sha256').update(style).digest('base64')));

  for (const path of ['/', '/index.html']) {
    const res = await fetch(`http://127.0.0.1:${u.port}${path}?token=${u.token}`);
    assert.equal(res.status, 200, path);
    assert.match(await res.text(), new RegExp(`<meta name="p2pfx-token" content="${u.token}">`), path);
  }
  // A foreign Host is refused before any of this (DNS rebinding), with the API's JSON.
  const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: u.port, path: '/', headers: { host: `evil.example:${u.port}`, accept: 'text/html' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(rebound.status, 403);
  assert.equal((JSON.parse(rebound.body) as { error: { code: string } }).error.code, 'UI_HOST_REFUSED');
});
