// One client process of the load benchmark (scripts/load.ts forks several): a keep-alive undici
// Pool of mutual-TLS connections to one node, `concurrency` requests in flight until the time is
// up — PUTs of fresh random blobs (their id is their SHA-256), PUTs of blobs already held, GETs of
// held blobs with every byte checked against the id, and GETs of ids never sent. Every answer is
// judged; what does not fit is counted, by status, and as a wrong answer where the server claimed
// something untrue (a wrong byte, a lost or invented chunk).
//
// Protocol over the IPC channel: the parent sends LoadWorkerConfig; the worker opens its
// connections and sends {type: 'ready'}; the parent sends {type: 'go'}; the worker runs for
// config.seconds and sends {type: 'result', result: WorkerResult}, then exits.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { TLS13_CIPHERS, TLS_MIN_VERSION } from '../src/net/tls.js';

export interface LoadWorkerConfig {
  type: 'config';
  /** https://127.0.0.1:PORT */
  origin: string;
  /** The client's home: certs/node-cert.pem, node-key.pem, ca-cert.pem. */
  home: string;
  seconds: number;
  /** Requests in flight at once (and connections in the pool). */
  concurrency: number;
  /** Bytes of each blob PUT. */
  sizeBytes: number;
}

export type OpKind = 'putNew' | 'putAgain' | 'getHeld' | 'getAbsent';
export const OP_KINDS: readonly OpKind[] = ['putNew', 'putAgain', 'getHeld', 'getAbsent'];

export interface OpFigures {
  /** Requests that got an answer (any status); latencies has one entry (ms) for each. */
  answered: number;
  /** Answers that were what they should be. */
  ok: number;
  latenciesMs: number[];
}

export interface WorkerResult {
  ops: Record<OpKind, OpFigures>;
  /** Requests that got no answer (the connection failed, timed out). */
  transportErrors: number;
  /** Unexpected outcomes: "PUT 503", "GET 404", "PUT ECONNRESET"… */
  errorsByStatus: Record<string, number>;
  /** Answers that are not true: wrong bytes, a chunk acknowledged then not found, one never sent served. */
  wrongAnswers: number;
  /** The first few wrong answers, described. */
  wrongExamples: string[];
  fiveXX: number;
  bytesSent: number;
  bytesReceived: number;
  elapsedS: number;
}

/** Of 100 requests, once some blobs are held: fresh PUTs, PUTs of held blobs, GETs of held, GETs of absent. */
const MIX = { putNew: 40, putAgain: 10, getHeld: 45, getAbsent: 5 } as const;
/** Blobs kept in memory to PUT again (ids of all held blobs are kept for GETs). */
const KEPT_BLOBS = 64;
const MAX_EXAMPLES = 5;
const TIMEOUT_MS = 30_000;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export class LoadClient {
  readonly #pool: Pool;
  readonly #cfg: LoadWorkerConfig;
  /** Ids the server acknowledged (201 or 200), with their size. */
  readonly #held: string[] = [];
  readonly #kept: Array<{ id: string; blob: Buffer }> = [];
  readonly #result: WorkerResult;

  constructor(cfg: LoadWorkerConfig, tls: { ca: string; cert: string; key: string }) {
    this.#cfg = cfg;
    this.#pool = new Pool(cfg.origin, {
      connections: cfg.concurrency,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      connect: {
        ...tls,
        minVersion: TLS_MIN_VERSION,
        ciphers: TLS13_CIPHERS,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      },
    });
    const ops = Object.fromEntries(OP_KINDS.map((k) => [k, { answered: 0, ok: 0, latenciesMs: [] }])) as unknown as Record<OpKind, OpFigures>;
    this.#result = { ops, transportErrors: 0, errorsByStatus: {}, wrongAnswers: 0, wrongExamples: [], fiveXX: 0, bytesSent: 0, bytesReceived: 0, elapsedS: 0 };
  }

  /** Opens every connection of the pool (TLS handshakes are not part of the measurement). */
  async warmUp(): Promise<void> {
    await Promise.all(Array.from({ length: this.#cfg.concurrency }, async () => {
      const res = await this.#pool.request({ method: 'GET', path: '/v1/health' });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`GET /v1/health answered ${res.statusCode}`);
    }));
  }

  async run(): Promise<WorkerResult> {
    const started = process.hrtime.bigint();
    const deadline = Date.now() + this.#cfg.seconds * 1000;
    await Promise.all(Array.from({ length: this.#cfg.concurrency }, async () => {
      while (Date.now() < deadline) await this.#one(this.#pick());
    }));
    this.#result.elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
    return this.#result;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  #pick(): OpKind {
    if (this.#held.length === 0) return 'putNew';
    let r = Math.random() * 100;
    for (const kind of OP_KINDS) {
      r -= MIX[kind];
      if (r < 0) return kind;
    }
    return 'getHeld';
  }

  async #one(kind: OpKind): Promise<void> {
    try {
      if (kind === 'putNew') {
        const blob = randomBytes(this.#cfg.sizeBytes);
        const id = sha256(blob);
        const status = await this.#put(kind, id, blob, 201, true);
        if (status === 201) {
          this.#held.push(id);
          this.#kept.push({ id, blob });
          if (this.#kept.length > KEPT_BLOBS) this.#kept.shift();
        }
      } else if (kind === 'putAgain') {
        const { id, blob } = this.#kept[Math.floor(Math.random() * this.#kept.length)]!;
        await this.#put(kind, id, blob, 200, false);
      } else if (kind === 'getHeld') {
        await this.#get(kind, this.#held[Math.floor(Math.random() * this.#held.length)]!, true);
      } else {
        await this.#get(kind, randomBytes(32).toString('hex'), false);
      }
    } catch (err) {
      this.#result.transportErrors++;
      const code = (err as { code?: unknown }).code;
      this.#count(`${kind.startsWith('put') ? 'PUT' : 'GET'} ${typeof code === 'string' ? code : (err as Error).name}`);
    }
  }

  /** PUT a blob; `expected` is 201 for a fresh one (created: true), 200 for one held (created: false). */
  async #put(kind: OpKind, id: string, blob: Buffer, expected: 200 | 201, created: boolean): Promise<number> {
    const t0 = process.hrtime.bigint();
    const res = await this.#pool.request({ method: 'PUT', path: `/v1/chunks/${id}`, body: blob, headers: { 'content-type': 'application/octet-stream' } });
    const text = await res.body.text();
    this.#answered(kind, t0, res.statusCode);
    this.#result.bytesSent += blob.length;
    if (res.statusCode !== expected) {
      // The other 2xx means the server lost a chunk it had acknowledged, or claims one it never got.
      if (res.statusCode === 200 || res.statusCode === 201) this.#wrong(`PUT ${id} (${kind}) answered ${res.statusCode}, expected ${expected}`);
      this.#count(`PUT ${res.statusCode}`);
      return res.statusCode;
    }
    let body: { id?: unknown; created?: unknown; size?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // judged below
    }
    if (body.id !== id || body.created !== created || body.size !== blob.length) {
      this.#wrong(`PUT ${id} (${kind}) answered ${res.statusCode} ${text.slice(0, 200)}`);
      return res.statusCode;
    }
    this.#result.ops[kind].ok++;
    return res.statusCode;
  }

  /** GET a chunk: a held one must come back whole, every byte hashing to its id; an absent one is 404. */
  async #get(kind: OpKind, id: string, held: boolean): Promise<void> {
    const t0 = process.hrtime.bigint();
    const res = await this.#pool.request({ method: 'GET', path: `/v1/chunks/${id}` });
    const hash = createHash('sha256');
    let got = 0;
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      hash.update(piece);
      got += piece.length;
    }
    this.#answered(kind, t0, res.statusCode);
    this.#result.bytesReceived += got;
    if (!held) {
      if (res.statusCode === 404) this.#result.ops[kind].ok++;
      else {
        if (res.statusCode < 300) this.#wrong(`GET ${id}, never sent, answered ${res.statusCode} with ${got} bytes`);
        this.#count(`GET ${res.statusCode}`);
      }
      return;
    }
    if (res.statusCode !== 200) {
      if (res.statusCode === 404) this.#wrong(`GET ${id}, acknowledged earlier, answered 404`);
      this.#count(`GET ${res.statusCode}`);
      return;
    }
    const digest = hash.digest('hex');
    const declared = Number(res.headers['content-length']);
    if (digest !== id || got !== this.#cfg.sizeBytes || declared !== got) {
      this.#wrong(`GET ${id}: ${got} bytes (content-length ${String(res.headers['content-length'])}) hashing to ${digest}`);
      return;
    }
    this.#result.ops[kind].ok++;
  }

  #answered(kind: OpKind, t0: bigint, status: number): void {
    const figures = this.#result.ops[kind];
    figures.answered++;
    figures.latenciesMs.push(Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100);
    if (status >= 500) this.#result.fiveXX++;
  }

  #count(key: string): void {
    this.#result.errorsByStatus[key] = (this.#result.errorsByStatus[key] ?? 0) + 1;
  }

  #wrong(what: string): void {
    this.#result.wrongAnswers++;
    if (this.#result.wrongExamples.length < MAX_EXAMPLES) this.#result.wrongExamples.push(what);
  }
}

async function workerMain(): Promise<void> {
  const send = (message: unknown): Promise<void> => new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
  const next = (type: string): Promise<Record<string, unknown>> => new Promise((resolve) => {
    const on = (m: Record<string, unknown>): void => {
      if (m?.type !== type) return;
      process.off('message', on);
      resolve(m);
    };
    process.on('message', on);
  });
  const cfg = (await next('config')) as unknown as LoadWorkerConfig;
  const certs = join(cfg.home, 'certs');
  const [ca, cert, key] = await Promise.all(['ca-cert.pem', 'node-cert.pem', 'node-key.pem'].map((f) => readFile(join(certs, f), 'utf8')));
  const client = new LoadClient(cfg, { ca: ca!, cert: cert!, key: key! });
  await client.warmUp();
  const go = next('go');
  await send({ type: 'ready' });
  await go;
  const result = await client.run();
  await client.close();
  await send({ type: 'result', result });
  process.disconnect();
}

if (process.send !== undefined && process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  workerMain().catch((err: unknown) => {
    process.stderr.write(`load-worker: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
