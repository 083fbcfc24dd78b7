// Bad input from a machine without a certificate: a seeded, bounded fuzzer for every route of the
// enrollment listener (the one port such a machine can reach), through helpers/fuzz-http.ts
// (which says how seeds replay and what every answer must be). Requests whose MAC is right (made
// on their own TLS session with the real code) reach past the MAC into the key, the proof of
// possession, the name and the addresses. At the end: no certificate issued, the invite still
// open, and a real join still goes through.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import type { ErrorCode } from '../src/core/errors.js';
import { JOIN_PATH, REQUEST_BODY_LIMIT, joinKey, joinMac, sessionExporter } from '../src/net/protocol/enrollment.js';
import { inviteCodeKey } from '../src/pki/invite-code.js';
import { IndexDb } from '../src/store/index-db.js';
import { InviteBook, inviteState } from '../src/store/invite-book.js';
import { repoRoot } from './helpers/cli.js';
import { caSide, preparedJoin } from './helpers/enroll.js';
import { Rng } from './helpers/fuzz-rng.js';
import { ESC, WRONG_VALUES, deepArray, deepObject, describeOutcome, failureReport, fuzzRun, markerEntries, poolExchange, runCases, streamOf, traversals, type Case, type Req } from './helpers/fuzz-http.js';

const { seed: SEED, replay: REPLAY, marker: MARKER } = fuzzRun('fuzz-enroll.test.js');
const JSON_TYPE = { 'content-type': 'application/json' } as const;
const JOIN_ROUTE = `POST ${JOIN_PATH}`;
const FIELDS = ['version', 'name', 'publicKey', 'ips', 'pop', 'mac'] as const;
/** Answers a hostile join may get: refused as malformed, for its values, for its code, or for its rate. */
const JOIN_CODES: readonly ErrorCode[] = ['BAD_REQUEST', 'INVALID_ARGUMENT', 'INVITE_REFUSED', 'JOIN_RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];

type Fields = Record<string, unknown>;

/** A join request's fields for a fresh key: what an honest joiner sends, before pop and mac. */
function honestFields(rng: Rng, key: KeyObject): Fields {
  return { version: 1, name: `node-${rng.hex(6)}`, publicKey: key.export({ type: 'spki', format: 'der' }).toString('base64'), ips: ['127.0.0.1'] };
}

/** The request's bytes on this session: fields changed by `change`, with the session's pop and the MAC of the real code. */
function joinOnSession(codeKey: Uint8Array, fields: Fields, privateKey: KeyObject, change: (body: Fields) => void = () => undefined): (socket: TLSSocket) => Buffer {
  return (socket) => {
    const exporter = sessionExporter(socket);
    const pop = sign('sha256', Buffer.concat([Buffer.from('p2pfx-join-pop\n'), exporter]), privateKey).toString('base64');
    const body: Fields = { ...fields, pop };
    change(body);
    const { mac: _old, pop: _pop, ...macked } = body;
    body.mac ??= joinMac(joinKey(codeKey, exporter), 'join-request', macked);
    const text = JSON.stringify(body);
    return Buffer.from(`POST ${JOIN_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  };
}

test(`every route of the enrollment listener refuses hostile input with a stable 4xx code and stays up (fuzz, ${REPLAY})`, { timeout: 180_000 }, async (t) => {
  t.diagnostic(REPLAY);
  const rng = new Rng(SEED);
  const logs: string[] = [];
  // Bounds per source far above the cases: they are tested in enroll-sources.test.ts, and would
  // otherwise answer most cases here with RATE_LIMITED.
  const side = await caSide(t, { perSource: { connections: 64, requestsPerMinute: 100_000 }, logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } } });
  const { id, code } = await side.invite();
  const codeKey = await inviteCodeKey(code);
  const port = side.server.port;
  const tls: ConnectionOptions = { rejectUnauthorized: false, minVersion: 'TLSv1.3' };
  const pool = new Pool(`https://127.0.0.1:${port}`, { connect: tls, connections: 4 });
  t.after(() => pool.close());
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  const cases: Case[] = [];
  const add = (route: string, name: string, req: () => Req, opts: Omit<Case, 'route' | 'name' | 'req'> = {}) => cases.push({ route, name, req, ...opts });
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  // -------- right MAC, hostile values behind it (first: wrong codes further down lock this source out)
  {
    const macked = (name: string, change: (body: Fields) => void, codes: readonly ErrorCode[] = ['BAD_REQUEST', 'INVALID_ARGUMENT']) => {
      const fields = honestFields(rng, key.publicKey);
      add(JOIN_ROUTE, `right MAC: ${name}`, () => ({ method: 'POST', path: JOIN_PATH, via: 'raw', build: joinOnSession(codeKey, fields, key.privateKey, change) }), { codes });
    };
    const spkiOf = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
    macked('a public key of random bytes', (b) => { b.publicKey = rng.bytes(rng.range(1, 600)).toString('base64'); });
    macked('an empty public key', (b) => { b.publicKey = ''; });
    macked('a P-384 key', (b) => { b.publicKey = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey); });
    macked('an Ed25519 key', (b) => { b.publicKey = spkiOf(generateKeyPairSync('ed25519').publicKey); });
    macked('an RSA key', (b) => { b.publicKey = spkiOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey); });
    macked('another key than the one proved', (b) => { b.publicKey = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey); });
    macked('a proof of random bytes', (b) => { b.pop = rng.bytes(rng.range(1, 120)).toString('base64'); });
    macked('an empty proof', (b) => { b.pop = ''; });
    macked('a proof from another session', (b) => { b.pop = sign('sha256', Buffer.from('p2pfx-join-pop\nnot this session'), key.privateKey).toString('base64'); });
    // Every one of these is refused (a valid one would be given a certificate and use the invite).
    for (const name of ['', ' ', 'a b', `${ESC}[2J`, '\u202egpj.exe', '../../etc', 'x'.repeat(65), 'é', 'a/b', 'a\\b', '.', '..', 'a\u0000b']) {
      macked(`the name ${JSON.stringify(name.slice(0, 30))}`, (b) => { b.name = name; });
    }
    for (const ips of [['not-an-ip'], ['fe80::1%eth0'], ['999.1.1.1'], ['1.2.3'], [''], [`${ESC}[2J`], ['0x7f.1'], ['127.1']]) {
      macked(`the addresses ${JSON.stringify(ips).slice(0, 40)}`, (b) => { b.ips = ips; });
    }
  }

  // -------- the body: fields missing, of the wrong type, too long, extra, polluting
  {
    const fields = honestFields(rng, key.publicKey);
    const body = (b: Fields) => () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: JSON.stringify(b) });
    const whole: Fields = { ...fields, pop: 'AAAA', mac: `${'A'.repeat(43)}=` };
    for (const f of FIELDS) {
      const { [f]: _gone, ...rest } = whole;
      add(JOIN_ROUTE, `without ${f}`, body(rest), { codes: ['BAD_REQUEST'] });
      for (const v of rng.sample(WRONG_VALUES, 8)) add(JOIN_ROUTE, `${f} = ${JSON.stringify(v)?.slice(0, 30)}`, body({ ...whole, [f]: v }), { codes: JOIN_CODES });
    }
    add(JOIN_ROUTE, 'an extra field', body({ ...whole, admin: true }), { codes: ['BAD_REQUEST'] });
    add(JOIN_ROUTE, '__proto__ in the body', () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: `{"__proto__":{"polluted":1},${JSON.stringify(whole).slice(1)}` }), { codes: JOIN_CODES });
    add(JOIN_ROUTE, 'constructor.prototype in the body', () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: JSON.stringify({ ...whole, constructor: { prototype: { polluted: 1 } } }) }), { codes: JOIN_CODES });
    add(JOIN_ROUTE, 'a version from the future', body({ ...whole, version: 2 }), { codes: ['BAD_REQUEST'] });
    add(JOIN_ROUTE, 'a name over 64 characters', body({ ...whole, name: 'n'.repeat(65) }), { codes: ['BAD_REQUEST'] });
    add(JOIN_ROUTE, '65 addresses', body({ ...whole, ips: Array.from({ length: 65 }, (_, i) => `10.0.1.${i}`) }), { codes: ['BAD_REQUEST'] });
    add(JOIN_ROUTE, 'a MAC of the wrong length', body({ ...whole, mac: 'AAAA' }), { codes: ['BAD_REQUEST'] });
    for (let i = 0; i < 4; i++) add(JOIN_ROUTE, `a well-formed wrong code #${i}`, body({ ...whole, mac: rng.bytes(32).toString('base64') }), { codes: ['INVITE_REFUSED', 'JOIN_RATE_LIMITED'] });
    add(JOIN_ROUTE, 'no body', () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE }), { codes: JOIN_CODES });
    add(JOIN_ROUTE, 'JSON that is not JSON', () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: '{"version":' }), { codes: ['BAD_REQUEST'] });
    for (const text of ['null', '[]', '1', '"x"', 'true', deepArray(5000), deepObject(5000)]) {
      add(JOIN_ROUTE, `the body ${text.slice(0, 12)}`, () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: text }), { codes: JOIN_CODES });
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '', 'x'.repeat(8000), 'application/json; charset=utf-16']) {
      add(JOIN_ROUTE, `content-type ${JSON.stringify(type.slice(0, 40))}`, () => ({ method: 'POST', path: JOIN_PATH, headers: { 'content-type': type }, body: JSON.stringify(whole), via: 'raw' }), { codes: JOIN_CODES });
    }
    add(JOIN_ROUTE, `a body over ${REQUEST_BODY_LIMIT} bytes`, () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: JSON.stringify({ ...whole, name: 'n'.repeat(REQUEST_BODY_LIMIT) }) }), { codes: ['PAYLOAD_TOO_LARGE'] });
    add(JOIN_ROUTE, 'a streamed body of 8 MiB', () => ({ method: 'POST', path: JOIN_PATH, headers: JSON_TYPE, body: streamOf(8 << 20) }), { codes: ['PAYLOAD_TOO_LARGE', 'BAD_REQUEST'], mayGoUnanswered: true });
    add(JOIN_ROUTE, 'a body that stops early', () => {
      const bytes = Buffer.from(`POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"version":1`);
      return { method: 'POST', path: JOIN_PATH, via: 'raw', bytes, cutAt: bytes.length };
    }, { mayGoUnanswered: true });
    add(JOIN_ROUTE, 'chunked with a size that is not hex', () => ({ method: 'POST', path: JOIN_PATH, via: 'raw', headers: { ...JSON_TYPE, 'transfer-encoding': 'chunked' }, body: 'zz\r\n{}\r\n0\r\n\r\n' }), { mayGoUnanswered: true });
    add(JOIN_ROUTE, 'content-length and chunked together (smuggling)', () => ({ method: 'POST', path: JOIN_PATH, via: 'raw', bytes: Buffer.from(`POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n`) }));
    add(JOIN_ROUTE, 'expect: something else', () => ({ method: 'POST', path: JOIN_PATH, via: 'raw', headers: { ...JSON_TYPE, expect: 'the-unexpected' }, body: '{}' }), { codes: ['BAD_REQUEST'] });
  }

  // -------- other methods and paths: nothing else is here
  {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) add(`${method} /v1/join`, 'another method', () => ({ method, path: JOIN_PATH }), { codes: ['NOT_FOUND'] });
    for (const path of ['/', '/v1', '/v1/health', '/openapi.json', '/docs', '/v1/join/', '/v1/join?x=1', '/V1/JOIN', '/v1/join%00', '/v1/crl', '/v1/manifests', '/%ff']) {
      add('GET, POST elsewhere', `GET ${path}`, () => ({ method: 'GET', path }), { codes: ['NOT_FOUND', 'BAD_REQUEST'] });
      add('GET, POST elsewhere', `POST ${path}`, () => ({ method: 'POST', path, headers: JSON_TYPE, body: '{}' }), { codes: ['NOT_FOUND', 'BAD_REQUEST'] });
    }
    for (const tr of traversals(MARKER)) {
      for (const prefix of ['/', '/v1/']) add('GET, POST elsewhere', `traversal under ${prefix}: ${tr.name}`, () => ({ method: 'GET', path: `${prefix}${tr.segment}`, ...(tr.raw ? { via: 'raw' as const } : {}) }), { codes: ['NOT_FOUND', 'BAD_REQUEST'] });
    }
  }

  // -------- HTTP that is not HTTP
  {
    const raw = (name: string, text: string, rest: Omit<Case, 'route' | 'name' | 'req'> = {}) => add('raw HTTP', name, () => ({ method: '?', path: '?', via: 'raw', bytes: Buffer.from(text, 'latin1'), ...(rest.mayGoUnanswered ? { cut: true } : {}) }), rest);
    raw('a garbage request line', 'HELLO\r\n\r\n');
    raw('HTTP/1.1 without host', `POST ${JOIN_PATH} HTTP/1.1\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}`, { codes: ['BAD_REQUEST'] });
    raw('the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { mayGoUnanswered: true });
    raw('a header over 16 KiB', `POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nx-a: ${'a'.repeat(20_000)}\r\n\r\n`);
    raw('a request line over 16 KiB', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    raw('a NUL in a header value', `POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nx-a: a\u0000b\r\n\r\n`);
    raw('obs-fold', `POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nx-a: a\r\n b\r\n\r\n`);
    raw('CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: 127.0.0.1:1\r\n\r\n', { mayGoUnanswered: true });
    raw('an absolute-form target', `POST https://evil.example${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}`);
    raw('a request that stops in the headers', `POST ${JOIN_PATH} HTTP/1.1\r\nhost: x\r\nx-a: 1`, { mayGoUnanswered: true });
  }

  const { failures, counts } = await runCases(cases, {
    port, tls, pool, logs, root: side.dir, allowed: /^ca\/p2pfx\.db(-wal|-shm|-journal)?$/, failLevel: 50,
    alive: async () => {
      const o = await poolExchange(pool, { method: 'GET', path: '/v1/alive' });
      return o.status === 404 && /"NOT_FOUND"/.test(o.body.toString()) ? null : `GET /v1/alive: ${describeOutcome(o)}`;
    },
  });
  const escaped = await markerEntries([tmpdir(), join(side.dir, '..'), repoRoot, process.cwd(), '/tmp'], MARKER);
  if (escaped.length > 0) failures.push(`files written outside the home: ${escaped.join(', ')}`);
  const protoAfter = Object.getOwnPropertyNames(Object.prototype).sort();
  if (JSON.stringify(protoAfter) !== JSON.stringify(protoBefore) || ({} as Record<string, unknown>).polluted !== undefined) {
    failures.push(`Object.prototype was changed: ${protoAfter.filter((k) => !protoBefore.includes(k)).join(', ')}`);
  }
  t.diagnostic(`${cases.length} cases (${REPLAY}):`);
  for (const [route, n] of counts) t.diagnostic(`${String(n).padStart(4)}  ${route}`);
  assert.ok(cases.length >= 150 && cases.length <= 600, `a few hundred cases, not ${cases.length}`);
  assert.equal(failures.length, 0, failureReport(failures, cases.length, REPLAY));

  // Nothing was given away, and the invite still serves its joiner (from another address than the
  // cases', which tried wrong codes).
  const index = new IndexDb(side.home.dbPath);
  const book = new InviteBook(side.home.dbPath);
  t.after(() => { index.close(); book.close(); });
  assert.deepEqual(index.listIssued(), [], 'no certificate was issued');
  assert.equal(inviteState(book.get(id)!), 'pending');
  assert.equal(side.joins.length, 0);
  const answer = await (await preparedJoin(port, code, 'after-the-storm', { localAddress: '127.0.0.2' }))();
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(inviteState(book.get(id)!), 'used');
});
