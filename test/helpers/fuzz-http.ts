// The harness of the seeded HTTP fuzz tests (test/fuzz-api.test.ts over the node API,
// test/fuzz-enroll.test.ts over the enrollment listener; test/fuzz-cli.test.ts shares its hostile
// values): requests sent through undici or byte for byte on a fresh TLS socket, answers judged,
// the tree on disk compared before and after each case, and the hostile values every route gets.
//
// Every case follows from one seed (mulberry32, helpers/fuzz-rng.ts): the run prints it, every
// failure names it, and `P2PFX_FUZZ_SEED=N node --test dist/test/FILE` replays the same cases
// (keys, certificates and signatures are fresh each run; the shape of every request follows from
// the seed). Without P2PFX_FUZZ_SEED each run draws a new seed, so runs explore more over time.
//
// Each server case must get a 4xx answer `{error: {code, message}}` whose code is one of
// core/errors.ts with that code's status — or no answer at all where the client itself cut its
// body short — never a 5xx nor an error or warning in the server's log; the listener must still
// answer afterwards; nothing may change in the temporary tree but what the case allows.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Dispatcher, Pool } from 'undici';
import { ERROR_CODES, isErrorCode, type ErrorCode } from '../../src/core/errors.js';
import { Rng, fuzzSeed } from './fuzz-rng.js';

/** The seed of this run, how to replay it, and a name no legitimate file has (traversals aim at it). */
export function fuzzRun(file: string): { seed: number; replay: string; marker: string } {
  const seed = fuzzSeed();
  return { seed, replay: `seed ${seed}: replay with P2PFX_FUZZ_SEED=${seed} node --test dist/test/${file}`, marker: `p2pfx-fuzz-escape-${seed}` };
}

export const ESC = '\u001b';
export const BEL = '\u0007';

// ---------------------------------------------------------------- requests and answers

export type Body = Buffer | string | (() => AsyncIterable<Buffer>);

export interface Req {
  method: string;
  /** The request target exactly as sent: percent-encoded where meant. */
  path: string;
  headers?: Record<string, string>;
  body?: Body;
  /**
   * 'pool': undici, keep-alive (the normal way). 'raw': written byte for byte on a fresh TLS
   * socket, for what undici refuses or repairs (lengths that lie, broken framing, cut bodies).
   */
  via?: 'pool' | 'raw';
  /** raw: the whole request, byte for byte (method and path then only describe it). */
  bytes?: Buffer;
  /** raw: the whole request, made once the TLS session is up (a body bound to the session, e.g. a join's MAC). */
  build?: (socket: TLSSocket) => Buffer;
  /** raw: the client sends this many bytes of the request, waits a moment for an answer, and closes. */
  cutAt?: number;
  /** raw: the client sends the whole request (one that stops early), waits a moment, and closes. */
  cut?: boolean;
}

export interface Case {
  route: string;
  name: string;
  req: () => Req;
  /** Codes a refusal may carry (any code of core/errors.ts with a 4xx status when absent). */
  codes?: readonly ErrorCode[];
  /** Success statuses this input may also get (a well-formed request among the hostile ones). */
  ok?: readonly number[];
  /** The client cut its body short and closed: an answer is not required. */
  mayGoUnanswered?: boolean;
  /** Paths under the temporary root (besides the node's index) this case may change. */
  disk?: RegExp;
}

export interface Answer { status: number; headers: Record<string, string>; body: Buffer }
export type Outcome = Answer | { status: null; error: string };

export const ANSWER_TIMEOUT_MS = 15_000;
export const CUT_PAUSE_MS = 150;

export function requestBytes(r: Req): Buffer {
  if (r.bytes) return r.bytes;
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body as Buffer | string);
  const headers: Record<string, string> = { host: '127.0.0.1', connection: 'close', ...r.headers };
  const names = Object.keys(headers).map((h) => h.toLowerCase());
  if (body.length > 0 && !names.includes('content-length') && !names.includes('transfer-encoding')) headers['content-length'] = String(body.length);
  const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A whole HTTP/1.1 answer in `buf`, or null while more may come. 1xx interim answers are skipped. */
export function parseAnswer(buf: Buffer, atEnd: boolean, head: boolean): Answer | null {
  let rest = buf;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) return null;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const at = line.indexOf(':');
      if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    const after = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      rest = after;
      continue;
    }
    if (head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      return after.length >= n ? { status, headers, body: after.subarray(0, n) } : null;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let at = 0;
      for (;;) {
        const eol = after.indexOf('\r\n', at);
        if (eol < 0) return null;
        const size = parseInt(after.subarray(at, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) return { status, headers, body: after };
        if (size === 0) return { status, headers, body: Buffer.concat(parts) };
        if (after.length < eol + 2 + size + 2) return null;
        parts.push(after.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
    }
    return atEnd ? { status, headers, body: after } : null;
  }
}

export function rawExchange(port: number, tls: ConnectionOptions, r: Req): Promise<Outcome> {
  const head = r.method === 'HEAD';
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...tls, host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    let settled = false;
    const finish = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const closedWith = (why: string): Outcome => parseAnswer(got, true, head)
      ?? { status: null, error: got.length > 0 ? `unparsable answer ${JSON.stringify(got.toString('latin1').slice(0, 300))}` : why };
    const timer = setTimeout(() => finish(closedWith(`no answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    socket.on('secureConnect', () => {
      const bytes = r.build ? r.build(socket) : requestBytes(r);
      const cutAt = r.cutAt ?? (r.cut ? bytes.length : undefined);
      if (cutAt === undefined) {
        socket.write(bytes, () => undefined);
        return;
      }
      socket.write(bytes.subarray(0, cutAt), () => {
        setTimeout(() => finish(closedWith('cut by the client')), CUT_PAUSE_MS);
      });
    });
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const a = parseAnswer(got, false, head);
      if (a) finish(a);
    });
    socket.on('end', () => finish(closedWith('closed without an answer')));
    socket.on('close', () => finish(closedWith('closed without an answer')));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(closedWith(`${err.code ?? 'error'}: ${err.message}`)));
  });
}

export async function poolExchange(pool: Pool, r: Req): Promise<Outcome> {
  try {
    const body = typeof r.body === 'function' ? Readable.from(r.body()) : r.body;
    const res = await pool.request({
      path: r.path, method: r.method as Dispatcher.HttpMethod, ...(r.headers ? { headers: r.headers } : {}), ...(body !== undefined ? { body } : {}),
      headersTimeout: ANSWER_TIMEOUT_MS, bodyTimeout: ANSWER_TIMEOUT_MS,
    });
    const buf = Buffer.from(await res.body.arrayBuffer());
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    return { status: res.statusCode, headers, body: buf };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { status: null, error: `${e.code ?? 'error'}: ${e.message ?? String(err)}` };
  }
}

/** What is wrong with this answer to this case; [] when it is one a careful node gives. */
export function judge(c: Case, r: Req, o: Outcome): string[] {
  if (o.status === null) return c.mayGoUnanswered ? [] : [`no answer (${o.error})`];
  const problems: string[] = [];
  const text = o.body.toString('utf8');
  if (/BEGIN [A-Z ]*PRIVATE KEY|SQLite format 3/.test(text)) problems.push('the answer leaks a private key or the index');
  if (c.ok?.includes(o.status)) return problems;
  if (o.status >= 500) problems.push(`server error ${o.status}`);
  else if (o.status < 400) problems.push(`accepted with ${o.status}`);
  if (r.method === 'HEAD' || o.status < 400) return problems;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [...problems, `${o.status} without a JSON body: ${JSON.stringify(text.slice(0, 200))}`];
  }
  const e = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!e || typeof e.message !== 'string' || Object.keys(parsed as object).length !== 1) {
    return [...problems, `${o.status} without {error: {code, message}}: ${text.slice(0, 200)}`];
  }
  if (!isErrorCode(e.code)) return [...problems, `${o.status} with a code not in core/errors.ts: ${JSON.stringify(e.code)}`];
  if (ERROR_CODES[e.code].status !== o.status) problems.push(`${e.code} is ${ERROR_CODES[e.code].status}, answered ${o.status}`);
  if (c.codes && !c.codes.includes(e.code)) problems.push(`${o.status} ${e.code} (${e.message.slice(0, 160)}), expected ${c.codes.join(' or ') || 'success'}`);
  if (!/^application\/json/.test(o.headers['content-type'] ?? '')) problems.push(`error answer with content-type ${o.headers['content-type']}`);
  return problems;
}

export function describeReq(r: Req): string {
  const target = r.path.length > 120 ? `${r.path.slice(0, 120)}…(${r.path.length} chars)` : r.path;
  const body = typeof r.body === 'function' ? 'a streamed body' : r.body === undefined ? '' : `${Buffer.byteLength(r.body)}-byte body`;
  return `${r.via ?? 'pool'} ${r.method} ${target} ${r.headers ? JSON.stringify(r.headers).slice(0, 200) : ''} ${body}${r.cutAt !== undefined ? ` cut at ${r.cutAt}` : r.cut ? ' then cut' : ''}`.trim();
}

export function describeOutcome(o: Outcome): string {
  return o.status === null ? o.error : `${o.status} ${o.body.toString('utf8').slice(0, 200)}`;
}


// ---------------------------------------------------------------- the tree on disk

/** Every entry under root (relative path → type, size and mtime); directories by type only. */
export async function tree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string, rel: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) {
        out.set(r, 'dir');
        await walk(p, r);
      } else if (st.isSymbolicLink()) out.set(r, `link → ${await readlink(p).catch(() => '?')}`);
      else out.set(r, `${st.isFile() ? 'file' : 'special'} ${st.size} B mtime ${st.mtimeMs}`);
    }
  }
  await walk(root, '');
  return out;
}

export function treeChanges(before: Map<string, string>, after: Map<string, string>, allowed: RegExp): string[] {
  const out: string[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(key);
    const b = after.get(key);
    if (a !== b && !allowed.test(key)) out.push(`${key}: ${a ?? 'absent'} → ${b ?? 'absent'}`);
  }
  return out;
}

/** Entries carrying the run's marker where a traversal could land: the temp root's parent, the repository, the cwd. */
export async function markerEntries(roots: string[], marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const root of roots) {
    for (const name of await readdir(root).catch(() => [] as string[])) if (name.includes(marker)) found.push(join(root, name));
  }
  return found;
}


// ---------------------------------------------------------------- hostile values

export const enc = encodeURIComponent;

/** Ids that are not ids, as path segments (already encoded). */
export function badIds(rng: Rng, len: 32 | 64): Array<[string, string]> {
  const h = (n: number) => rng.hex(n);
  const fixed: Array<[string, string]> = [
    ['empty', ''],
    ['one char short', h(len - 1)], ['one char long', h(len + 1)], ['half the length', h(len / 2)], ['twice the length', h(len * 2)],
    ['one char', h(1)], ['the other kind of id', h(len === 64 ? 32 : 64)],
    ['uppercase', h(len).toUpperCase()], ['one uppercase char', `${h(len - 1)}A`],
    ['non-hex letter', `${h(len - 1)}g`], ['dash', `${h(len - 1)}-`], ['dot', `${h(len - 1)}.`], ['encoded space', `${h(len - 1)}%20`],
    ['plus', `${h(len - 1)}+`], ['leading encoded space', `%20${h(len)}`], ['trailing tab', `${h(len)}%09`],
    ['fullwidth digit', `${h(len - 1)}${enc('\uff10')}`], ['arabic-indic digit', `${h(len - 1)}${enc('\u0663')}`],
    ['combining mark', `${h(len)}${enc('\u0301')}`], ['emoji', `${h(len - 2)}${enc('\u{1f600}')}`],
    ['right-to-left override', `${enc('\u202e')}${h(len - 1)}`], ['terminal escape', `${h(len - 4)}%1b%5b2J`],
    ['NUL', `${h(len - 1)}%00`], ['NUL after a whole id', `${h(len)}%00`], ['newline', `${h(len)}%0a`], ['CRLF', `${h(len - 2)}%0d%0a`],
    ['invalid UTF-8', `${h(len - 1)}%ff`], ['overlong UTF-8 dot', `${h(len - 2)}%c0%ae`], ['broken escape', `${h(len - 1)}%zz`],
    ['lone percent', `${h(len - 1)}%`], ['4 KiB long', h(4096)], ['15 KiB long', h(15_000)],
    ['an id then ;x', `${h(len)};x`], ['an id then %2f', `${h(len)}%2f`], ['an id then %2f..', `${h(len)}%2f..`],
  ];
  const pieces = ['a', 'f', '0', '9', 'A', 'F', 'g', 'z', '.', '-', '_', '~', '%2f', '%2e', '%5c', '%00', '%25', '%ff', '%1b', enc('\u00e9'), enc('\u202e'), enc('\uff41')];
  for (let i = 0; i < 6; i++) {
    let s = '';
    const n = rng.range(1, 90);
    for (let j = 0; j < n; j++) s += rng.chance(0.7) ? rng.hex(1) : rng.pick(pieces);
    fixed.push([`random soup #${i}`, s]);
  }
  return fixed;
}

/** Traversal attempts, as what follows a route's prefix; `raw` ones undici would normalize. */
export function traversals(marker: string): Array<{ name: string; segment: string; raw?: boolean }> {
  return [
    { name: '..%2f to the key', segment: '..%2f..%2fcerts%2fnode-key.pem' },
    { name: '%2e%2e', segment: '%2e%2e' },
    { name: '%2e%2e%2f..', segment: '%2e%2e%2f..' },
    { name: 'encoded dots and slashes to the index', segment: '%2e%2e%2f%2e%2e%2fp2pfx.db' },
    { name: 'double-encoded', segment: '..%252f..%252fcerts%252fnode-key.pem' },
    { name: 'double-encoded dots', segment: '%252e%252e%252f%252e%252e%252f' },
    { name: 'encoded backslashes', segment: '..%5c..%5ccerts%5cnode-key.pem' },
    { name: 'raw backslashes', segment: '..\\..\\certs\\node-key.pem', raw: true },
    { name: 'NUL after dots', segment: '..%00' },
    { name: 'NUL before an extension', segment: 'node-key.pem%00.png' },
    { name: 'dots and doubled slashes', segment: '....%2f%2f....%2f%2f' },
    { name: 'overlong UTF-8', segment: '%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%af' },
    { name: 'half-encoded dots', segment: '.%2e/.%2e/certs/node-key.pem' },
    { name: 'dot-dot-semicolon', segment: '..;/..;/certs/node-key.pem' },
    { name: 'raw ../', segment: '../../certs/node-key.pem', raw: true },
    { name: 'absolute path', segment: '%2fetc%2fpasswd' },
    { name: 'to the temp root', segment: `..%2f..%2f..%2f..%2f..%2f..%2f..%2ftmp%2f${marker}` },
    { name: 'raw to the temp root', segment: `../../../../../../../tmp/${marker}`, raw: true },
  ];
}

/** Values of every JSON type but the one a field wants. */
export const WRONG_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, '', 'x', '1', '\u0000', `${ESC}[2J`, '\u202e', 'x'.repeat(5000),
  [], [1], [null], ['x'], {}, { a: 1 }, { __proto__: null }, [[[[[]]]]],
];

/** A JSON text nested `depth` levels deep. */
export function deepArray(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}
export function deepObject(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A stream of `total` bytes in 1 MiB pieces. */
export function streamOf(total: number, fill = 0x61): () => AsyncIterable<Buffer> {
  return async function* body() {
    const piece = Buffer.alloc(1 << 20, fill);
    for (let sent = 0; sent < total; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, total - sent));
  };
}


// ---------------------------------------------------------------- running the cases

export interface FuzzTarget {
  port: number;
  /** TLS options of the raw connections (and of the pool). */
  tls: ConnectionOptions;
  pool: Pool;
  /** The temporary tree compared before and after each case. */
  root: string;
  /** Paths under root every case may change (the node's index). */
  allowed: RegExp;
  /** The listener still answers as it should after a case: null, or what is wrong. */
  alive(): Promise<string | null>;
  /** The listener's log lines (pino JSON), taken as they come: one at failLevel or above is a failure. */
  logs: string[];
  /** pino level from which a log line is a failure (default 40, a warning). */
  failLevel?: number;
}

/** Runs every case one at a time; the failures (each with its request, answer and problems), and cases per route. */
export async function runCases(cases: Case[], target: FuzzTarget): Promise<{ failures: string[]; counts: Map<string, number> }> {
  const { port, tls, pool, logs } = target;
  const failLevel = target.failLevel ?? 40;
  const allowed = target.allowed;
  let before = await tree(target.root);
  const failures: string[] = [];
  const counts = new Map<string, number>();
  for (const [i, c] of cases.entries()) {
    counts.set(c.route, (counts.get(c.route) ?? 0) + 1);
    const r = c.req();
    const outcome = (r.via === 'raw' || r.cutAt !== undefined || r.cut || r.bytes || r.build) ? await rawExchange(port, tls, r) : await poolExchange(pool, r);
    const problems = judge(c, r, outcome);
    // Whatever the server still does for a client that went away must end, and leave nothing behind.
    const allow = c.disk ? new RegExp(`${allowed.source}|${c.disk.source}`) : allowed;
    let changes: string[] = [];
    for (let tries = 0; tries < 40; tries++) {
      const after = await tree(target.root);
      changes = treeChanges(before, after, allow);
      if (changes.length === 0 || tries === 39) {
        before = after; // a change is reported once, by the case that made it
        break;
      }
      await sleep(50);
    }
    problems.push(...changes.map((ch) => `disk changed: ${ch}`));
    const dead = await target.alive();
    if (dead !== null) problems.push(`afterwards: ${dead}`);
    for (const line of logs.splice(0)) {
      const level = (JSON.parse(line) as { level?: number }).level ?? 0;
      if (level >= failLevel) problems.push(`server log: ${line.slice(0, 400)}`);
    }
    if (problems.length > 0) {
      failures.push(`#${i} ${c.route} — ${c.name}\n    request: ${describeReq(r)}\n    answer: ${describeOutcome(outcome)}\n    ${problems.join('\n    ')}`);
    }
    if (dead !== null) break; // the listener is down: the cases after would only say so again
  }
  await sleep(100);
  for (const line of logs.splice(0)) if (((JSON.parse(line) as { level?: number }).level ?? 0) >= failLevel) failures.push(`server log after the run: ${line.slice(0, 400)}`);
  return { failures, counts };
}

/** The failures as one assertion message: the first 40 in full. */
export function failureReport(failures: string[], total: number, replay: string): string {
  return `${failures.length} of ${total} cases failed (${replay}):\n${failures.slice(0, 40).join('\n')}${failures.length > 40 ? `\n… and ${failures.length - 40} more` : ''}`;
}
