// Bad input from a peer (issue 8): a seeded, bounded fuzzer for every route of a real node
// (mutual TLS on 127.0.0.1), through the harness of helpers/fuzz-http.ts (which says how seeds
// replay and what every answer must be). Here also: no chunk or temporary file is left, nothing
// outside the home is written, Object.prototype stays as it was, /v1/health answers after each case.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { Pool } from 'undici';
import { wrapForNode } from '../src/core/envelope.js';
import type { ErrorCode } from '../src/core/errors.js';
import { BLOB_OVERHEAD_BYTES, MAX_BLOB_BYTES, MAX_CHUNK_BYTES, MAX_CRL_BYTES, MAX_MANIFEST_BYTES, MAX_MISSING_IDS, MAX_PAGE } from '../src/core/limits.js';
import { sealMetadata, signManifest, type Manifest, type UnsignedManifest } from '../src/core/manifest.js';
import { startNode } from '../src/node/run-node.js';
import { tlsContextOptions } from '../src/net/tls.js';
import { createCa, issueNodeCert } from '../src/pki/ca.js';
import { createCrl } from '../src/pki/crl.js';
import { nodeIdFromCertPem } from '../src/pki/node-id.js';
import type { Credentials } from '../src/store/credentials.js';
import { repoRoot } from './helpers/cli.js';
import { makeNetwork } from './helpers/network.js';
import { Rng } from './helpers/fuzz-rng.js';
import { BEL, ESC, WRONG_VALUES, enc, requestBytes, badIds, deepArray, deepObject, describeOutcome, failureReport, fuzzRun, markerEntries, poolExchange, runCases, streamOf, traversals, type Case, type Req } from './helpers/fuzz-http.js';

const { seed: SEED, replay: REPLAY, marker: MARKER } = fuzzRun('fuzz-api.test.js');

// ---------------------------------------------------------------- manifests

function makeManifest(creds: Credentials, rng: Rng, chunkCount = 3, chunkSize = 4096): Manifest {
  const fileIdBytes = Buffer.from(rng.hex(32), 'hex');
  const dataKey = randomBytes(32);
  const full = chunkSize + BLOB_OVERHEAD_BYTES;
  const lastPlain = rng.range(1, chunkSize);
  const chunks = Array.from({ length: chunkCount }, (_, index) => ({ index, id: rng.hex(64), size: index === chunkCount - 1 ? lastPlain + BLOB_OVERHEAD_BYTES : full }));
  const unsigned: UnsignedManifest = {
    version: 1, fileId: fileIdBytes.toString('hex'), chunkSize, chunkCount, totalBytes: chunks.reduce((s, c) => s + c.size, 0), chunks,
    envelopes: [wrapForNode(dataKey, fileIdBytes, creds.nodeId, creds.x25519.publicKey)],
    metadata: sealMetadata({ name: 'report.pdf', size: (chunkCount - 1) * chunkSize + lastPlain, mtimeMs: 0, sha256: rng.hex(64) }, dataKey, fileIdBytes),
    createdAt: new Date().toISOString(),
    sender: { nodeId: creds.nodeId, certPem: creds.certPem },
  };
  return signManifest(unsigned, creds.keyPem);
}

type Loose = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A copy of `base` changed by `change`, signed again by `signer` (so that only the change is
 * wrong); with no signer, or a value canonical JSON cannot hold, it keeps the old signature.
 */
function variant(base: Manifest, change: (m: Loose) => void, signer: Credentials | null): Loose {
  const m = structuredClone(base) as Loose;
  change(m);
  if (signer && m && typeof m === 'object' && !Array.isArray(m)) {
    try {
      const { signature: _old, ...unsigned } = m;
      return signManifest(unsigned as UnsignedManifest, signer.keyPem) as Loose;
    } catch {
      // a value canonical JSON refuses (a fraction): sent with the old signature
    }
  }
  return m;
}

const MANIFEST_KEYS = ['version', 'fileId', 'chunkSize', 'chunkCount', 'totalBytes', 'chunks', 'envelopes', 'metadata', 'createdAt', 'sender', 'signature'] as const;

/** Every place in a manifest a random mutation may hit. */
function manifestPaths(m: Manifest): string[][] {
  const paths: string[][] = MANIFEST_KEYS.map((k) => [k]);
  m.chunks.forEach((_, i) => ['index', 'id', 'size'].forEach((f) => paths.push(['chunks', String(i), f])));
  paths.push(['chunks', String(m.chunks.length)]);
  for (const f of Object.keys(m.envelopes[0]!)) paths.push(['envelopes', '0', f]);
  paths.push(['metadata', 'nonce'], ['metadata', 'sealed'], ['sender', 'nodeId'], ['sender', 'certPem']);
  return paths;
}

function setPath(m: Loose, path: string[], value: unknown): void {
  let at: Loose = m;
  for (const key of path.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key] as Loose;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

// ---------------------------------------------------------------- the server fuzzer

const JSON_TYPE = { 'content-type': 'application/json' } as const;
const OCTETS = { 'content-type': 'application/octet-stream' } as const;
const PEM_TYPE = { 'content-type': 'application/x-pem-file' } as const;

test(`every route of a node refuses hostile input with a stable 4xx code and stays up (fuzz, ${REPLAY})`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(REPLAY);
  const rng = new Rng(SEED);
  const net = await makeNetwork(t);
  const a = await net.add('a', { serve: false });
  const b = await net.add('b', { serve: false });
  // The node as `serve` runs it (inbox included), with its log kept: an error or a warning there
  // is a failure even when no answer could carry it (a client that went away).
  const logs: string[] = [];
  const server = await startNode(b.node, {
    host: '127.0.0.1', port: 0, inbox: {},
    logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } },
  });
  t.after(() => server.close());
  const port = server.port;
  const tls: ConnectionOptions = { ...tlsContextOptions(a.node.creds), checkServerIdentity: () => undefined };
  const pool = new Pool(`https://127.0.0.1:${port}`, { connect: tls, connections: 4 });
  t.after(() => pool.close());
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  const creds = a.node.creds;
  const base = makeManifest(creds, rng);
  const stranger = await issueNodeCert(await createCa(), { name: 'stranger', ips: ['127.0.0.1'] });
  const strangerCreds: Credentials = { ...creds, certPem: stranger.certPem, keyPem: stranger.keyPem, nodeId: nodeIdFromCertPem(stranger.certPem) };
  const foreignCrl = await createCrl(await createCa(), { number: 7n, revoked: [] });
  const currentCrl = await createCrl(net.ca, { number: 2, revoked: [] });

  const cases: Case[] = [];
  const add = (route: string, name: string, req: () => Req, opts: Omit<Case, 'route' | 'name' | 'req'> = {}) => cases.push({ route, name, req, ...opts });

  // -------- ids and traversal on every route with a path parameter
  const idRoutes: Array<{ route: string; method: string; prefix: string; len: 32 | 64; codes: ErrorCode[]; body?: () => Pick<Req, 'headers' | 'body'> }> = [
    { route: 'GET /v1/chunks/:id', method: 'GET', prefix: '/v1/chunks/', len: 64, codes: ['INVALID_ID', 'NOT_FOUND', 'BAD_REQUEST', 'CHUNK_NOT_FOUND'] },
    { route: 'HEAD /v1/chunks/:id', method: 'HEAD', prefix: '/v1/chunks/', len: 64, codes: [] },
    { route: 'PUT /v1/chunks/:id', method: 'PUT', prefix: '/v1/chunks/', len: 64, codes: ['INVALID_ID', 'NOT_FOUND', 'BAD_REQUEST', 'HASH_MISMATCH'], body: () => ({ headers: OCTETS, body: rng.bytes(32) }) },
    { route: 'GET /v1/manifests/:fileId', method: 'GET', prefix: '/v1/manifests/', len: 32, codes: ['INVALID_ID', 'NOT_FOUND', 'BAD_REQUEST', 'MANIFEST_NOT_FOUND'] },
    { route: 'PUT /v1/manifests/:fileId', method: 'PUT', prefix: '/v1/manifests/', len: 32, codes: ['INVALID_ID', 'NOT_FOUND', 'BAD_REQUEST', 'BAD_MANIFEST'], body: () => ({ headers: JSON_TYPE, body: JSON.stringify(base) }) },
  ];
  for (const r of idRoutes) {
    for (const [name, segment] of badIds(rng, r.len)) {
      const extra = r.body?.();
      add(r.route, `malformed id: ${name}`, () => ({ method: r.method, path: `${r.prefix}${segment}`, ...extra }), r.codes.length ? { codes: r.codes } : {});
    }
    for (const tr of traversals(MARKER)) {
      const extra = r.body?.();
      add(r.route, `traversal: ${tr.name}`, () => ({ method: r.method, path: `${r.prefix}${tr.segment}`, ...extra, ...(tr.raw ? { via: 'raw' as const } : {}) }), r.codes.length ? { codes: r.codes } : {});
    }
  }
  // Paths under /docs and / name no file (the page is made from the route schemas), and must stay so.
  for (const prefix of ['/docs/static/', '/docs/', '/']) {
    for (const tr of traversals(MARKER)) add('GET /docs, /openapi.json', `traversal under ${prefix}: ${tr.name}`, () => ({ method: 'GET', path: `${prefix}${tr.segment}`, ...(tr.raw ? { via: 'raw' as const } : {}) }));
  }

  // -------- PUT /v1/chunks/:id: lengths, types, cut and oversized bodies
  {
    const route = 'PUT /v1/chunks/:id';
    const id = () => rng.hex(64);
    const codes: ErrorCode[] = ['HASH_MISMATCH', 'CHUNK_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'BAD_REQUEST', 'PAYLOAD_TOO_LARGE'];
    add(route, 'bytes that do not hash to the id', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, headers: OCTETS, body: rng.bytes(rng.range(1, 5000)) }), { codes: ['HASH_MISMATCH'] });
    add(route, 'no body, no type', () => ({ method: 'PUT', path: `/v1/chunks/${id()}` }), { codes });
    const types = ['application/json', 'text/plain', 'application/x-pem-file', 'multipart/form-data; boundary=x', 'application/octet-stream; charset=utf-8',
      'APPLICATION/OCTET-STREAM', 'application/octet-stream, text/html', '', ';;;', 'x'.repeat(8000), 'application/x-www-form-urlencoded', 'image/png'];
    for (const type of types) {
      add(route, `content-type ${JSON.stringify(type.slice(0, 40))}`, () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, headers: { 'content-type': type }, body: type === 'application/json' ? '{"a":1}' : rng.bytes(64), via: 'raw' }), { codes });
    }
    add(route, 'JSON that is not JSON', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, headers: JSON_TYPE, body: '{"a":' }), { codes });
    const lengths = ['-1', '99999999999999999999', '18446744073709551615', String(MAX_BLOB_BYTES + 1), String(2 ** 53 + 1), '1e3', '0x10', '+16', '16, 16', '16 16', ''];
    for (const cl of lengths) {
      // The client says the length and sends 16 bytes: the server must refuse it without waiting for more.
      add(route, `content-length ${JSON.stringify(cl)} over 16 bytes`, () => {
        const head = `PUT /v1/chunks/${id()} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ncontent-length: ${cl}\r\n\r\n`;
        return { method: 'PUT', path: '/v1/chunks/…', via: 'raw', bytes: Buffer.concat([Buffer.from(head), rng.bytes(16)]) };
      }, { codes });
    }
    add(route, 'two different content-lengths', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', bytes: Buffer.from(`PUT /v1/chunks/${id()} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nabcde`) }), { codes });
    add(route, 'content-length and chunked together (smuggling)', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', bytes: Buffer.from(`PUT /v1/chunks/${id()} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n`) }), { codes });
    add(route, 'transfer-encoding gzip', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, 'transfer-encoding': 'gzip' }, body: 'abcd' }), { codes });
    add(route, 'chunked with a size that is not hex', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, 'transfer-encoding': 'chunked' }, body: 'zz\r\nabcd\r\n0\r\n\r\n' }), { codes, mayGoUnanswered: true });
    add(route, 'chunked with an overflowing size', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, 'transfer-encoding': 'chunked' }, body: 'fffffffffffffffffff\r\nabcd\r\n0\r\n\r\n' }), { codes, mayGoUnanswered: true });
    add(route, 'chunked with a negative size', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, 'transfer-encoding': 'chunked' }, body: '-4\r\nabcd\r\n0\r\n\r\n' }), { codes, mayGoUnanswered: true });
    add(route, 'expect: 100-continue', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, expect: '100-continue' }, body: rng.bytes(100) }), { codes });
    add(route, 'expect: something else', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, via: 'raw', headers: { ...OCTETS, expect: 'the-unexpected' }, body: rng.bytes(100) }), { codes: [...codes, 'BAD_REQUEST'] });
    for (const [name, declared, sent] of [['a body that stops early', 1000, 100], ['a body that stops after the headers', 4096, 0], ['a body that stops one byte short', 64, 63], ['a large body that stops early', 4_000_000, 1_000_000]] as const) {
      add(route, name, () => {
        const head = Buffer.from(`PUT /v1/chunks/${id()} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: ${declared}\r\n\r\n`);
        const bytes = Buffer.concat([head, rng.bytes(sent)]);
        return { method: 'PUT', path: '/v1/chunks/…', via: 'raw', bytes, cutAt: bytes.length };
      }, { codes, mayGoUnanswered: true });
    }
    add(route, 'a chunked body that stops early', () => {
      const bytes = Buffer.from(`PUT /v1/chunks/${id()} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n100\r\n${'a'.repeat(50)}`);
      return { method: 'PUT', path: '/v1/chunks/…', via: 'raw', bytes, cutAt: bytes.length };
    }, { codes, mayGoUnanswered: true });
    add(route, `a streamed body over the cap (${MAX_BLOB_BYTES + 1024} bytes, no length)`, () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, headers: OCTETS, body: streamOf(MAX_BLOB_BYTES + 1024) }), { codes: ['CHUNK_TOO_LARGE'] });
    add(route, 'a body of exactly the cap that does not hash to its id', () => ({ method: 'PUT', path: `/v1/chunks/${id()}`, headers: OCTETS, body: Buffer.alloc(MAX_BLOB_BYTES) }), { codes: ['HASH_MISMATCH'] });
  }

  // -------- POST /v1/chunks/missing
  {
    const route = 'POST /v1/chunks/missing';
    const codes: ErrorCode[] = ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
    const post = (body: string | Buffer, headers: Record<string, string> = JSON_TYPE): Req => ({ method: 'POST', path: '/v1/chunks/missing', headers, body });
    add(route, 'no ids (valid)', () => post('{"ids":[]}'), { ok: [200], codes: [] });
    add(route, `the most ids allowed (${MAX_MISSING_IDS}, valid)`, () => post(JSON.stringify({ ids: Array.from({ length: MAX_MISSING_IDS }, () => rng.hex(64)) })), { ok: [200], codes: [] });
    add(route, `one id over the limit (${MAX_MISSING_IDS + 1})`, () => post(JSON.stringify({ ids: Array.from({ length: MAX_MISSING_IDS + 1 }, () => rng.hex(64)) })), { codes: ['BAD_REQUEST'] });
    add(route, '200,000 short ids', () => post(JSON.stringify({ ids: Array.from({ length: 200_000 }, () => 'a') })), { codes });
    const idsValues: Array<[string, unknown]> = [
      ['a string', 'x'], ['an object', {}], ['null', null], ['a number', 1], ['true', true], ['numbers', [1, 2]], ['nulls', [null]],
      ['objects', [{}]], ['uppercase', [rng.hex(64).toUpperCase()]], ['traversal', ['../../certs/node-key.pem']],
      ['an id and a NUL', [`${rng.hex(64)}\u0000`]], ['an id and %00', [`${rng.hex(64)}%00`]], ['empty strings', ['']], ['one char short', [rng.hex(63)]],
      ['a 100 KiB string', ['a'.repeat(100_000)]], ['valid then invalid', [rng.hex(64), 'zz']], ['terminal escapes', [`${ESC}[2J${ESC}]0;x${BEL}`]],
      ['unicode digits', ['\uff10'.repeat(64)]], ['the same id twice (valid)', [rng.hex(64), rng.hex(64)]],
    ];
    // Fastify's schema coercion (coerceTypes: 'array') takes [[id]] and a lone id as [id]: lenient, harmless.
    idsValues.push(['nested arrays (coerced: valid)', [[rng.hex(64)]]], ['a lone id (coerced: valid)', rng.hex(64)]);
    for (const [name, ids] of idsValues) {
      add(route, `ids: ${name}`, () => post(JSON.stringify({ ids })), /valid\)$/.test(name) ? { ok: [200], codes: [] } : { codes: ['BAD_REQUEST'] });
    }
    const bodies: Array<[string, string | Buffer]> = [
      ['an empty object', '{}'], ['an extra key', '{"ids":[],"extra":1}'], ['__proto__ with ids', '{"__proto__":{"ids":[]}}'],
      ['ids and __proto__', '{"ids":[],"__proto__":{"polluted":true}}'], ['constructor.prototype', '{"ids":[],"constructor":{"prototype":{"polluted":true}}}'],
      ['an array', '[]'], ['null', 'null'], ['a string', '"ids"'], ['nothing', ''], ['a cut object', '{"ids":["'], ['trailing garbage', '{"ids":[]}xyz'],
      ['a 100k-deep array', `{"ids":${deepArray(100_000)}}`], ['a 100k-deep object', deepObject(100_000)], ['1e999', '{"ids":1e999}'],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"ids":["'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"]}')])],
      ['UTF-16', Buffer.from('\ufeff{"ids":[]}', 'utf16le')], ['a byte-order mark', '\ufeff{"ids":[]}'], ['duplicate keys', '{"ids":"x","ids":[]}'],
    ];
    for (const [name, body] of bodies) add(route, `body: ${name}`, () => post(body), name === 'duplicate keys' || name === 'a byte-order mark' ? { codes, ok: [200] } : { codes });
    for (const type of ['text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded', 'application/x-pem-file', 'application/json; charset=utf-16', 'application/JSON', 'multipart/form-data; boundary=x']) {
      // A charset parameter is not looked at (the body is read as UTF-8), as media types' case is not.
      add(route, `content-type ${type}`, () => post('{"ids":[]}', { 'content-type': type }), { codes, ok: /^application\/json/i.test(type) ? [200] : [] });
    }
    add(route, 'no content-type', () => ({ method: 'POST', path: '/v1/chunks/missing', via: 'raw', body: '{"ids":[]}' }), { codes });
    add(route, `declared ${MAX_MANIFEST_BYTES + 1} bytes`, () => ({ method: 'POST', path: '/v1/chunks/missing', via: 'raw', headers: { ...JSON_TYPE, 'content-length': String(MAX_MANIFEST_BYTES + 1) }, body: '{"ids":[]}' }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(route, 'negative content-length', () => ({ method: 'POST', path: '/v1/chunks/missing', via: 'raw', headers: { ...JSON_TYPE, 'content-length': '-5' }, body: '{"ids":[]}' }), { codes });
    add(route, `a streamed body over the limit (${MAX_MANIFEST_BYTES + 1024} bytes)`, () => ({ method: 'POST', path: '/v1/chunks/missing', headers: JSON_TYPE, body: streamOf(MAX_MANIFEST_BYTES + 1024, 0x20) }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(route, 'a body that stops early', () => {
      const bytes = Buffer.from(`POST /v1/chunks/missing HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"ids":["${rng.hex(64)}",`);
      return { method: 'POST', path: '/v1/chunks/missing', via: 'raw', bytes, cutAt: bytes.length };
    }, { codes, mayGoUnanswered: true });
    for (let i = 0; i < 8; i++) {
      const n = rng.pick([0, 1, 5, 100, MAX_MISSING_IDS - 1, MAX_MISSING_IDS + rng.range(1, 50)]);
      const bad = rng.chance(0.5);
      add(route, `random list #${i} (${n} ids${bad ? ', one malformed' : ''})`, () => {
        const ids: unknown[] = Array.from({ length: n }, () => rng.hex(64));
        if (bad) ids.splice(rng.int(ids.length + 1), 0, rng.pick(WRONG_VALUES));
        return post(JSON.stringify({ ids }));
      }, !bad && n <= MAX_MISSING_IDS ? { ok: [200], codes: [] } : { codes: ['BAD_REQUEST'] });
    }
  }

  // -------- GET /v1/chunks?after=&limit=
  {
    const route = 'GET /v1/chunks';
    const q = (query: string): Req => ({ method: 'GET', path: `/v1/chunks${query}` });
    for (const query of ['', '?', '?limit=1', `?limit=${MAX_PAGE}`, '?after=', `?after=${rng.hex(64)}`, `?after=${rng.hex(10)}&limit=5`, '?limit=1e3', '?limit=0x10', '?limit=%205']) {
      add(route, `valid query ${JSON.stringify(query)}`, () => q(query), { ok: [200], codes: [] });
    }
    const refused = [
      '?limit=-1', '?limit=0', `?limit=${MAX_PAGE + 1}`, '?limit=1000000000', '?limit=1e400', '?limit=NaN', '?limit=abc', '?limit=', '?limit=1.5',
      '?limit=%00', '?limit=5%00', `?limit=${2 ** 53 + 1}`, '?limit=99999999999999999999', '?limit=-99999999999999999999', '?limit=1&limit=2', '?limit[]=1', '?limit[a]=1',
      '?limit=Infinity', '?limit=true',
      `?after=${rng.hex(64).toUpperCase()}`, `?after=${rng.hex(65)}`, '?after=g', `?after=${enc('\u00e9')}`, '?after=%00', '?after=..%2f..%2f', `?after=${rng.hex(10_000)}`,
      '?after=a&after=b', '?after[]=a', `?after=${enc(`${ESC}[2J`)}`,
      '?x=1', '?__proto__=1', '?__proto__[polluted]=1', '?constructor[prototype][polluted]=1', '?toString=1', '?hasOwnProperty=x', '?&&&=', '?=',
      '?after=%zz', `?${'a'.repeat(15_000)}=1`,
    ];
    for (const query of refused) add(route, `query ${JSON.stringify(query.slice(0, 60))}`, () => q(query), { codes: ['BAD_REQUEST'] });
    const keys = ['after', 'limit', 'after', 'limit', 'x', '__proto__', 'constructor', 'after[]'];
    const values = ['', '-1', '0', '1', '10001', '1e9', 'abc', rng.hex(64), rng.hex(64).toUpperCase(), '%00', '%ff', enc('\u202e'), '..%2f', rng.hex(3)];
    for (let i = 0; i < 16; i++) {
      const parts = Array.from({ length: rng.range(1, 4) }, () => `${rng.pick(keys)}=${rng.pick(values)}`);
      add(route, `random query #${i}`, () => q(`?${parts.join('&')}`), { codes: ['BAD_REQUEST'], ok: [200] });
    }
  }

  // -------- PUT /v1/manifests/:fileId
  {
    const route = 'PUT /v1/manifests/:fileId';
    const codes: ErrorCode[] = ['BAD_MANIFEST', 'BAD_REQUEST'];
    const put = (m: unknown, opts: { id?: string; headers?: Record<string, string> } = {}): Req => {
      const id = opts.id ?? ((m as Loose | null)?.fileId as string | undefined) ?? base.fileId;
      return { method: 'PUT', path: `/v1/manifests/${typeof id === 'string' && /^[0-9a-f]{32}$/.test(id) ? id : base.fileId}`, headers: opts.headers ?? JSON_TYPE, body: typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m) };
    };
    const bad = (name: string, change: (m: Loose) => void, signer: Credentials | null = creds, extra: Omit<Case, 'route' | 'name' | 'req'> = {}) => {
      add(route, name, () => put(variant(base, change, signer)), { codes, ...extra });
    };
    add(route, 'a valid manifest (control)', () => put(base), { ok: [201], codes: [] });
    add(route, 'the same manifest again (control)', () => put(base), { ok: [200], codes: [] });
    const full = base.chunkSize + BLOB_OVERHEAD_BYTES;
    const fix = (m: Loose) => { m.totalBytes = (m.chunks as Array<{ size: number }>).reduce((s, c) => s + c.size, 0); };
    bad('chunkCount one more', (m) => { m.chunkCount += 1; });
    bad('chunkCount one less', (m) => { m.chunkCount -= 1; });
    bad('chunkCount 0', (m) => { m.chunkCount = 0; });
    bad('chunkCount 2^32-1', (m) => { m.chunkCount = 0xffffffff; });
    bad('an index gap', (m) => { m.chunks[1].index = 2; m.chunks[2].index = 3; });
    bad('indices from 1', (m) => { for (const c of m.chunks) c.index += 1; });
    bad('indices reversed', (m) => { m.chunks.forEach((c: Loose, i: number) => { c.index = m.chunks.length - 1 - i; }); });
    bad('a chunk listed twice', (m) => { m.chunks[1].id = m.chunks[0].id; });
    bad('one chunk at every index', (m) => { for (const c of m.chunks) c.id = m.chunks[0].id; });
    bad('a chunk listed twice, sizes consistent', (m) => { m.chunks.push({ ...m.chunks[0], index: 3 }); m.chunks[2].size = full; m.chunks[3].size = full; m.chunkCount = 4; fix(m); });
    bad('a middle chunk one byte short', (m) => { m.chunks[0].size -= 1; fix(m); });
    bad('the last chunk over a full one', (m) => { m.chunks[2].size = full + 1; fix(m); });
    bad('a size below the blob overhead', (m) => { m.chunks[2].size = BLOB_OVERHEAD_BYTES - 1; fix(m); });
    bad('a size over the blob cap', (m) => { m.chunks[2].size = MAX_BLOB_BYTES + 1; fix(m); });
    bad('a fractional size', (m) => { m.chunks[2].size += 0.5; fix(m); });
    bad('a negative size', (m) => { m.chunks[2].size = -1; fix(m); });
    bad('totalBytes one more', (m) => { m.totalBytes += 1; });
    bad('totalBytes negative', (m) => { m.totalBytes = -1; });
    bad('totalBytes 2^53', (m) => { m.totalBytes = 2 ** 53; });
    bad('chunkSize below the minimum', (m) => { m.chunkSize = 4095; });
    bad('chunkSize over the maximum', (m) => { m.chunkSize = MAX_CHUNK_BYTES + 1; });
    bad('chunkSize as a string', (m) => { m.chunkSize = '4096'; });
    bad('version 4', (m) => { m.version = 4; });
    bad('version "1"', (m) => { m.version = '1'; });
    add(route, 'a fileId that is not the URL\'s', () => put(base, { id: rng.hex(32) }), { codes });
    bad('an uppercase fileId', (m) => { m.fileId = m.fileId.toUpperCase(); });
    bad('createdAt not a date', (m) => { m.createdAt = 'yesterday'; });
    bad('createdAt out of range', (m) => { m.createdAt = '2026-13-45T99:99:99Z'; });
    bad('createdAt 10 KiB long', (m) => { m.createdAt = `2026-01-01T00:00:00.${'0'.repeat(10_000)}Z`; });
    bad('no envelopes', (m) => { m.envelopes = []; });
    bad('65 envelopes', (m) => { m.envelopes = Array.from({ length: 65 }, () => m.envelopes[0]); });
    bad('scrypt N 2^30', (m) => { m.envelopes.push({ type: 'password', kdf: 'scrypt', N: 2 ** 30, r: 8, p: 1, salt: 'AAAA', nonce: 'AAAA', wrapped: 'AAAA' }); });
    bad('scrypt r 1000, p 1000', (m) => { m.envelopes.push({ type: 'password', kdf: 'scrypt', N: 1024, r: 1000, p: 1000, salt: 'AAAA', nonce: 'AAAA', wrapped: 'AAAA' }); });
    bad('an unknown envelope type', (m) => { m.envelopes[0].type = 'rsa'; });
    bad('a 10k-char recipient', (m) => { m.envelopes[0].recipient = 'R'.repeat(10_000); });
    bad('sealed metadata 10 KiB', (m) => { m.metadata.sealed = 'A'.repeat(10_240); });
    bad('metadata not base64', (m) => { m.metadata.sealed = `${ESC}[2J!!`; });
    bad('a garbage sender certificate', (m) => { m.sender.certPem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'; });
    bad('the CA certificate as sender', (m) => { m.sender.certPem = creds.caCertPem; });
    bad('another node\'s id as sender', (m) => { m.sender.nodeId = b.node.creds.nodeId; });
    bad('a sender of another network, signed by it', (m) => { m.sender = { nodeId: strangerCreds.nodeId, certPem: strangerCreds.certPem }; }, strangerCreds);
    bad('a 128-char sender id', (m) => { m.sender.nodeId = 'N'.repeat(128); });
    bad('an empty signature', (m) => { m.signature = ''; }, null);
    bad('a garbage signature', (m) => { m.signature = randomBytes(64).toString('base64'); }, null);
    bad('the signature of another manifest', (m) => { m.signature = makeManifest(creds, rng).signature; }, null);
    bad('a change after signing', (m) => { m.createdAt = new Date(Date.now() + 1000).toISOString(); }, null);
    bad('a 1 MiB signature', (m) => { m.signature = 'A'.repeat(1 << 20); }, null);
    bad('an extra top-level field', (m) => { m.extra = 1; });
    bad('an extra field in a chunk', (m) => { m.chunks[0].extra = 1; });
    bad('an extra field in an envelope', (m) => { m.envelopes[0].extra = 1; });
    // (A change to the signature itself is sent as it is: signing again would undo it.)
    for (const key of MANIFEST_KEYS) bad(`no ${key}`, (m) => { delete m[key]; }, key === 'signature' ? null : creds);
    for (const key of MANIFEST_KEYS) {
      for (let i = 0; i < 2; i++) {
        const value = rng.pick(WRONG_VALUES);
        bad(`${key} = ${JSON.stringify(value)?.slice(0, 30)}`, (m) => { m[key] = structuredClone(value); }, key === 'signature' ? null : creds);
      }
    }
    // Prototype-pollution keys, written into the JSON text (an object literal cannot carry them).
    const text = JSON.stringify(base);
    const insert = (at: string, what: string) => text.replace(at, `${at}${what},`);
    const pollution: Array<[string, string]> = [
      ['__proto__ at the top', insert('{', '"__proto__":{"polluted":true}')],
      ['__proto__ in a chunk', insert('"chunks":[{', '"__proto__":{"polluted":true}')],
      ['__proto__ in the metadata', insert('"metadata":{', '"__proto__":{"sealed":"AAAA"}')],
      ['__proto__ in the sender', insert('"sender":{', '"__proto__":{"isAdmin":true}')],
      ['constructor.prototype at the top', insert('{', '"constructor":{"prototype":{"polluted":true}}')],
      ['constructor.prototype in an envelope', insert('"envelopes":[{', '"constructor":{"prototype":{"polluted":true}}')],
      ['a prototype key', insert('{', '"prototype":{"polluted":true}')],
      ['__proto__ as the whole body', '{"__proto__":{"version":1}}'],
      ['escaped __proto__', insert('{', '"\\u005f_proto__":{"polluted":true}')],
    ];
    for (const [name, body] of pollution) add(route, `pollution: ${name}`, () => put(body), { codes });
    const nested: Array<[string, () => string]> = [
      ['a 100k-deep array', () => deepArray(100_000)],
      ['a 100k-deep object', () => deepObject(100_000)],
      ['chunks nested 100k deep', () => text.replace(/"chunks":\[.*?\],"envelopes"/, `"chunks":${deepArray(100_000)},"envelopes"`)],
      ['an unknown key nested 100k deep', () => insert('{', `"deep":${deepObject(100_000)}`)],
      ['metadata nested 100k deep', () => text.replace(/"metadata":\{.*?\}/, `"metadata":${deepObject(100_000)}`)],
    ];
    for (const [name, body] of nested) add(route, `nesting: ${name}`, () => put(body()), { codes });
    add(route, 'huge arrays: 100,000 chunks, the last listed twice', () => {
      const n = 100_000;
      const chunks = Array.from({ length: n }, (_, index) => ({ index, id: rng.hex(64), size: full }));
      chunks[n - 1]!.id = chunks[n - 2]!.id;
      return put({ ...base, chunkCount: n, chunks, totalBytes: n * full });
    }, { codes });
    add(route, 'huge arrays: 100,000 envelopes', () => put({ ...base, envelopes: Array.from({ length: 100_000 }, () => base.envelopes[0]) }), { codes });
    add(route, 'huge arrays: a million zeros as chunks', () => put(`{"version":1,"chunks":[${'0,'.repeat(999_999)}0]}`), { codes });
    add(route, 'huge arrays: a million nulls in an unknown key', () => put(insert('{', `"junk":[${'null,'.repeat(999_999)}null]`)), { codes });
    const texts: Array<[string, string | Buffer]> = [
      ['nothing', ''], ['an open brace', '{'], ['half a manifest', text.slice(0, text.length / 2)], ['null', 'null'], ['an array', '[]'], ['a string', '"manifest"'],
      ['1e999', '1e999'], ['a number', '42'], ['trailing comma', `${text.slice(0, -1)},}`], ['NaN', '{"version":NaN}'], ['a comment', `// hi\n${text}`],
      ['single quotes', "{'version':1}"], ['trailing garbage', `${text}xyz`], ['two manifests', `${text}${text}`],
      ['invalid UTF-8', Buffer.concat([Buffer.from(text.slice(0, 20)), Buffer.from([0xff, 0xc0, 0x80]), Buffer.from(text.slice(20))])],
      ['UTF-16', Buffer.from(text, 'utf16le')], ['a NUL byte', `${text.slice(0, 10)}\u0000${text.slice(10)}`], ['duplicate keys', insert('{', '"version":2')],
    ];
    for (const [name, body] of texts) add(route, `JSON: ${name}`, () => put(body), { codes, ...(name === 'duplicate keys' ? { ok: [200] } : {}) });
    const types = ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json; charset=utf-16', 'application/JSON',
      'application/json, text/plain', 'multipart/form-data; boundary=x', 'application/x-pem-file', 'application/json; charset=latin1'];
    for (const type of types) add(route, `content-type ${type}`, () => put(base, { headers: { 'content-type': type } }), { codes: [...codes, 'UNSUPPORTED_MEDIA_TYPE'], ok: [200] });
    add(route, 'no content-type', () => ({ ...put(base), headers: {}, via: 'raw' }), { codes: [...codes, 'UNSUPPORTED_MEDIA_TYPE'] });
    add(route, `declared ${MAX_MANIFEST_BYTES + 1} bytes`, () => ({ ...put(base), via: 'raw', headers: { ...JSON_TYPE, 'content-length': String(MAX_MANIFEST_BYTES + 1) } }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(route, 'negative content-length', () => ({ ...put(base), via: 'raw', headers: { ...JSON_TYPE, 'content-length': '-1' } }), { codes });
    add(route, 'a huge content-length', () => ({ ...put(base), via: 'raw', headers: { ...JSON_TYPE, 'content-length': '99999999999999999999999' } }), { codes: [...codes, 'PAYLOAD_TOO_LARGE'] });
    add(route, 'a body that stops early', () => {
      const r = put(base);
      const bytes = requestBytes({ ...r, headers: { ...JSON_TYPE, connection: 'keep-alive' } });
      return { ...r, via: 'raw', bytes, cutAt: bytes.length - 100 };
    }, { codes, mayGoUnanswered: true });
    const paths = manifestPaths(base);
    for (let i = 0; i < 40; i++) {
      const changes = Array.from({ length: rng.range(1, 3) }, () => ({ path: rng.pick(paths), value: rng.chance(0.1) ? undefined : rng.pick(WRONG_VALUES) }));
      const resign = rng.chance(0.7) && !changes.some((c) => c.path[0] === 'signature');
      const name = changes.map((c) => `${c.path.join('.')}=${c.value === undefined ? '(deleted)' : JSON.stringify(c.value)?.slice(0, 20)}`).join(', ');
      add(route, `random mutation #${i}: ${name}${resign ? ' (signed again)' : ''}`, () => put(variant(base, (m) => { for (const c of changes) setPath(m, c.path, structuredClone(c.value)); }, resign ? creds : null)), { codes, ok: [200, 201] });
    }
  }

  // -------- PUT /v1/crl
  {
    const route = 'PUT /v1/crl';
    const codes: ErrorCode[] = ['CRL_INVALID', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'BAD_REQUEST'];
    const putCrl = (body: string | Buffer, headers: Record<string, string> = PEM_TYPE): Req => ({ method: 'PUT', path: '/v1/crl', headers, body });
    const pem = (der: Buffer) => `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
    add(route, 'a newer CRL of the network (control: taken)', () => putCrl(currentCrl), { ok: [200], codes: [], disk: /^b\/certs\/crl\.pem$/ });
    add(route, 'the same CRL again (control: not newer, kept as is)', () => putCrl(currentCrl), { ok: [200], codes: [] });
    const bodies: Array<[string, () => string | Buffer]> = [
      ['nothing', () => ''], ['garbage', () => 'garbage'], ['random bytes', () => rng.bytes(2000)], ['random DER in a PEM', () => pem(rng.bytes(500))],
      ['two CRL blocks', () => `${currentCrl}${currentCrl}`], ['the CA certificate', () => creds.caCertPem], ['a node certificate', () => creds.certPem],
      ['a private key', () => stranger.keyPem], ['a CRL of another CA', () => foreignCrl], ['a PEM of 100k lines', () => `-----BEGIN X509 CRL-----\n${'AAAA\n'.repeat(100_000)}-----END X509 CRL-----\n`],
      ['DER nested 50k deep', () => pem(Buffer.concat([Buffer.from('3080'.repeat(50_000), 'hex'), Buffer.alloc(100_000)]))],
      ['DER with a 4 GiB length', () => pem(Buffer.from('3084ffffffff0000', 'hex'))], ['DER with a 2^64 length', () => pem(Buffer.from('3088ffffffffffffffff00', 'hex'))],
      ['a CRL with a byte flipped', () => { const der = Buffer.from(currentCrl.replace(/-----[^-]+-----|\s/g, ''), 'base64'); der[der.length - 10]! ^= 1; return pem(der); }],
      ['a CRL cut in half', () => { const der = Buffer.from(currentCrl.replace(/-----[^-]+-----|\s/g, ''), 'base64'); return pem(der.subarray(0, der.length >> 1)); }],
      ['terminal escapes', () => `${ESC}[2J${ESC}]0;pwned${BEL}`], ['a BEGIN line only', () => '-----BEGIN X509 CRL-----\n'],
      ['just under the limit', () => 'A'.repeat(MAX_CRL_BYTES - 1)],
    ];
    for (const [name, body] of bodies) add(route, name, () => putCrl(body()), { codes });
    for (const [type, body] of [['application/octet-stream', 'x'], ['application/json', '"garbage"'], ['application/json', '{"crl":"x"}'], ['text/plain', 'garbage'],
      ['application/pkix-crl', 'x'], ['application/x-www-form-urlencoded', 'crl=x'], ['application/x-pem-file; charset=utf-16', 'x']] as const) {
      add(route, `content-type ${type}, ${body}`, () => putCrl(body, { 'content-type': type }), { codes });
    }
    add(route, 'no content-type', () => ({ ...putCrl('garbage', {}), via: 'raw' }), { codes });
    add(route, `declared ${MAX_CRL_BYTES + 1} bytes`, () => ({ ...putCrl('x'), via: 'raw', headers: { ...PEM_TYPE, 'content-length': String(MAX_CRL_BYTES + 1) } }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(route, `a streamed body over the limit (${MAX_CRL_BYTES + 1024} bytes)`, () => ({ method: 'PUT', path: '/v1/crl', headers: PEM_TYPE, body: streamOf(MAX_CRL_BYTES + 1024) }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(route, 'negative content-length', () => ({ ...putCrl('x'), via: 'raw', headers: { ...PEM_TYPE, 'content-length': '-1' } }), { codes });
    add(route, 'a body that stops early', () => {
      const bytes = Buffer.from(`PUT /v1/crl HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-pem-file\r\ncontent-length: 4000\r\n\r\n-----BEGIN X509 CRL-----\nAAAA`);
      return { method: 'PUT', path: '/v1/crl', via: 'raw', bytes, cutAt: bytes.length };
    }, { codes, mayGoUnanswered: true });
    for (let i = 0; i < 8; i++) {
      add(route, `random PEM-ish body #${i}`, () => putCrl(rng.chance(0.5) ? pem(rng.bytes(rng.range(0, 3000))) : rng.bytes(rng.range(1, 3000)).toString('latin1')), { codes });
    }
  }

  // -------- POST /v1/peers/hello: a member says where it serves (the one case that records: the control)
  {
    const route = 'POST /v1/peers/hello';
    const codes: ErrorCode[] = ['BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'];
    const hello = (body: string | Buffer, headers: Record<string, string> = JSON_TYPE): Req => ({ method: 'POST', path: '/v1/peers/hello', headers, body });
    add(route, 'a valid hello (control)', () => hello('{"name":"a","port":8443}'), { ok: [200], codes: [] });
    const bodies: Array<[string, unknown]> = [
      ['port 0', { name: 'a', port: 0 }], ['port 65536', { name: 'a', port: 65536 }], ['port -1', { name: 'a', port: -1 }], ['port 1e300', { name: 'a', port: 1e300 }],
      ['port as text', { name: 'a', port: '8443' }], ['port null', { name: 'a', port: null }], ['port an object', { name: 'a', port: { valueOf: 8443 } }],
      ['a name with escapes', { name: `${ESC}[2J${BEL}`, port: 8443 }], ['a name with a NUL', { name: 'a\u0000b', port: 8443 }], ['a name "."', { name: '.', port: 8443 }],
      ['a name of 10,000 characters', { name: 'a'.repeat(10_000), port: 8443 }], ['a name as a number', { name: 7, port: 8443 }],
      ['an extra field', { name: 'a', port: 8443, host: '10.0.0.1' }], ['__proto__', JSON.parse('{"name":"a","port":8443,"__proto__":{"polluted":1}}')],
      ['no fields', {}], ['an array', []], ['null', null], ['a string', 'hello'],
    ];
    for (const [name, body] of bodies) add(route, `body: ${name}`, () => hello(JSON.stringify(body)), { codes });
    add(route, 'JSON that is not JSON', () => hello('{"name":'), { codes });
    add(route, 'deep nesting', () => hello(deepObject(10_000)), { codes });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) add(route, `content-type ${type}`, () => hello('name=a&port=8443', { 'content-type': type }), { codes });
    add(route, 'no body', () => ({ method: 'POST', path: '/v1/peers/hello' }), { codes });
    add(route, `declared ${MAX_MANIFEST_BYTES + 1} bytes`, () => ({ ...hello('{}'), via: 'raw', headers: { ...JSON_TYPE, 'content-length': String(MAX_MANIFEST_BYTES + 1) } }), { codes: ['PAYLOAD_TOO_LARGE'] });
    for (let i = 0; i < 8; i++) {
      add(route, `random body #${i}`, () => hello(JSON.stringify({ name: rng.pick(WRONG_VALUES), port: rng.pick(WRONG_VALUES) })), { codes });
    }
  }

  // -------- the read-only routes: wrong methods, hostile queries and headers
  const readOnly = [
    ['GET /v1/health', '/v1/health'], ['GET /v1/identity', '/v1/identity'], ['GET /v1/manifests', '/v1/manifests'],
    ['GET /v1/crl', '/v1/crl'], ['GET /docs, /openapi.json', '/openapi.json'], ['GET /docs, /openapi.json', '/docs'],
  ] as const;
  for (const [route, path] of readOnly) {
    for (const method of ['POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', ...(path === '/v1/crl' ? [] : ['PUT'])]) {
      add(route, `method ${method} on ${path}`, () => ({ method, path, ...(method === 'POST' || method === 'PATCH' ? { headers: JSON_TYPE, body: '{}' } : {}) }), method === 'HEAD' ? {} : { codes: ['NOT_FOUND', 'BAD_REQUEST'] });
    }
    for (const query of ['?__proto__[polluted]=1', '?a=%zz', `?${'q'.repeat(15_000)}`, `?x=${enc(`${ESC}[2J`)}`, '?constructor[prototype][x]=1']) {
      add(route, `query ${JSON.stringify(query.slice(0, 40))} on ${path}`, () => ({ method: 'GET', path: `${path}${query}` }), { ok: [200, 302], codes: ['BAD_REQUEST'] });
    }
  }

  // -------- HTTP framing, answered by the node's HTTP layer before any route
  {
    const route = 'HTTP framing';
    const raw = (name: string, text: string | Buffer, opts: Omit<Case, 'route' | 'name' | 'req'> & { cut?: boolean } = {}) => {
      const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
      const { cut, ...rest } = opts;
      add(route, name, () => ({ method: '?', path: '?', via: 'raw', bytes, ...(cut ? { cut: true } : {}) }), rest);
    };
    raw('a garbage request line', 'HELLO\r\n\r\n');
    raw('an unknown method', 'FOO /v1/health HTTP/1.1\r\nhost: x\r\n\r\n');
    raw('HTTP/1.0 without host', 'GET /v1/health HTTP/1.0\r\n\r\n', { ok: [200] });
    raw('HTTP/1.1 without host', 'GET /v1/health HTTP/1.1\r\nconnection: close\r\n\r\n', { codes: ['BAD_REQUEST'] });
    raw('the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { mayGoUnanswered: true });
    raw('HTTP/9.9', 'GET /v1/health HTTP/9.9\r\nhost: x\r\n\r\n');
    raw('a header without a colon', 'GET /v1/health HTTP/1.1\r\nhost: x\r\nnocolon\r\n\r\n');
    raw('a header name with a space', 'GET /v1/health HTTP/1.1\r\nhost: x\r\nbad name: 1\r\n\r\n');
    raw('a NUL in a header value', 'GET /v1/health HTTP/1.1\r\nhost: x\r\nx-a: a\u0000b\r\n\r\n');
    raw('an escape in a header value', `GET /v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-a: ${ESC}[2J\r\n\r\n`, { ok: [200] });
    raw('obs-fold', 'GET /v1/health HTTP/1.1\r\nhost: x\r\nx-a: a\r\n b\r\n\r\n');
    raw('a header over 16 KiB', `GET /v1/health HTTP/1.1\r\nhost: x\r\nx-a: ${'a'.repeat(20_000)}\r\n\r\n`);
    raw('a request line over 16 KiB', `GET /v1/chunks/${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    raw('3000 headers', `GET /v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${Array.from({ length: 3000 }, (_, i) => `x-${i}: 1\r\n`).join('')}\r\n`, { ok: [200] });
    raw('an absolute-form target', 'GET https://evil.example/v1/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    raw('an asterisk-form target', 'OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    raw('CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: 127.0.0.1:1\r\n\r\n', { mayGoUnanswered: true });
    raw('a target without a leading slash', 'GET v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    raw('a bare LF request', 'GET /v1/nothing HTTP/1.1\nhost: x\nconnection: close\n\n');
    raw('a space in the target', 'GET /v1/chunks/a b HTTP/1.1\r\nhost: x\r\n\r\n');
    raw('a raw escape in the target', `GET /v1/chunks/${ESC}[2J HTTP/1.1\r\nhost: x\r\n\r\n`);
    raw('a raw UTF-8 target', Buffer.from('GET /v1/chunks/\u00e9\u202e HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 'utf8'));
    raw('a GET with a body', `GET /v1/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello`);
    raw('pipelined: a 404 then garbage', 'GET /v1/nothing HTTP/1.1\r\nhost: x\r\n\r\nGARBAGE\r\n\r\n');
    raw('a request that stops in the headers', 'GET /v1/health HTTP/1.1\r\nhost: x\r\nx-a: 1', { mayGoUnanswered: true, cut: true });
  }

  const { failures, counts } = await runCases(cases, {
    port, tls, pool, logs, root: net.dir, allowed: /^b\/p2pfx\.db(-wal|-shm|-journal)?$/,
    alive: async () => {
      const health = await poolExchange(pool, { method: 'GET', path: '/v1/health' });
      return health.status === 200 && (JSON.parse(health.body.toString()) as { status?: string }).status === 'ok' ? null : `/v1/health: ${describeOutcome(health)}`;
    },
  });
  const escaped = await markerEntries([tmpdir(), join(net.dir, '..'), repoRoot, process.cwd(), '/tmp'], MARKER);
  if (escaped.length > 0) failures.push(`files written outside the home: ${escaped.join(', ')}`);
  const protoAfter = Object.getOwnPropertyNames(Object.prototype).sort();
  if (JSON.stringify(protoAfter) !== JSON.stringify(protoBefore) || ({} as Record<string, unknown>).polluted !== undefined) {
    failures.push(`Object.prototype was changed: ${protoAfter.filter((k) => !protoBefore.includes(k)).join(', ')}`);
  }
  assert.deepEqual(await b.node.store.list(), [], 'no chunk was kept');

  t.diagnostic(`${cases.length} cases (${REPLAY}):`);
  for (const [route, n] of counts) t.diagnostic(`${String(n).padStart(4)}  ${route}`);
  assert.ok(cases.length >= 300 && cases.length <= 1200, `a few hundred cases, not ${cases.length}`);
  assert.equal(failures.length, 0, failureReport(failures, cases.length, REPLAY));
});
