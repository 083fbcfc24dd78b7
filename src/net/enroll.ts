// Enrollment (DESIGN "Trust"): `p2pfx invite` on the CA's machine, `p2pfx join` on a new one.
// The joiner makes its key pair, sends the public key, and gets back its node certificate, the
// CA certificate and the CRL; the CA key stays where it is.
//
// Neither side can authenticate the other by certificate yet (the joiner has none and does not
// know the CA), so the TLS session is authenticated by the invite code instead: both ends derive
// K = HKDF(codeKey, salt = the session's TLS exporter) and MAC what they send with it. Only a
// holder of the code key can MAC, and only for this very TLS session: a machine in the middle
// holds two sessions with two exporters, and cannot turn a MAC made for one into one for the other.
import { createHmac, createPublicKey, generateKeyPair, hkdfSync, sign, timingSafeEqual, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import Fastify, { type FastifyError } from 'fastify';
import { canonicalJson } from '../core/canonical-json.js';
import { isNodeName } from '../core/ids.js';
import { P2pfxError, isErrorCode, type ErrorCode } from '../core/errors.js';
import { DEFAULT_PORT, KiB, MiB } from '../core/limits.js';
import { issueNodeCertForPublicKey } from '../pki/ca.js';
import { recordIssued, requireCa } from '../store/ca-home.js';
import { isSignedBy, readCertPem } from '../pki/cert-pem.js';
import { readCrl } from '../pki/crl.js';
import { remember as rememberCrl } from '../store/revocation.js';
import { generateInviteCode, inviteCodeKey, parseInviteCode } from '../pki/invite-code.js';
import { nodeIdFromCertPem, nodeIdFromSpki } from '../pki/node-id.js';
import { loadCredentials } from '../store/credentials.js';
import { writeFileAtomic } from '../store/fs-atomic.js';
import type { Home } from '../store/home.js';
import { IndexDb } from '../store/index-db.js';
import { InviteBook, inviteState, type ClaimResult, type Invite } from '../store/invite-book.js';
import { listenOrExplain } from './listen.js';
import { formatPeer } from './peer-address.js';
import { TLS13_CIPHERS, TLS_MIN_VERSION } from './tls.js';
import { commonSocketError, errorCodes } from './transport-errors.js';
import { toWireError } from './wire-error.js';

/** Where `invite` listens and `join HOST` connects: next to the node's API port. */
export const ENROLL_PORT = DEFAULT_PORT + 1;
export const DEFAULT_INVITE_TTL_MS = 10 * 60 * 1000;
export const JOIN_PROTOCOL_VERSION = 1;
export const JOIN_PATH = '/v1/join';
/** Wrong codes (no invite matched) the listener tries per RATE_WINDOW_MS (sliding); past that it answers 429 to every join, unheard. */
export const MAX_FAILED_JOINS = 10;
export const RATE_WINDOW_MS = 60 * 1000;

const EXPORTER_LABEL = 'EXPORTER-p2pfx-join';
const EXPORTER_BYTES = 32;
const HKDF_INFO = 'p2pfx join v1';
const JOIN_KEY_BYTES = 32;
const DEFAULT_JOIN_TIMEOUT_MS = 30_000;
const REQUEST_BODY_LIMIT = 16 * KiB;
/** Certificates and a CRL; a CRL of some thousand entries stays far below this. */
const RESPONSE_BODY_LIMIT = 4 * MiB;
const SERVER_TIMEOUT_MS = 15_000;
const MAX_PEER_MESSAGE_CHARS = 300;
const MAC_B64 = '^[A-Za-z0-9+/]{43}=$'; // 32 bytes

/** Codes the enrollment listener answers with; anything else from a peer is reported as PEER_ERROR. */
const LISTENER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVITE_REFUSED', 'INVITE_EXPIRED', 'INVITE_USED', 'JOIN_RATE_LIMITED', 'INVALID_ARGUMENT',
  'BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NOT_FOUND',
]);

// --- the protocol's keys and MACs ---------------------------------------------------------------

export type MacLabel = 'join-request' | 'join-response';

/** The TLS 1.3 exporter (RFC 8446 7.5) of this session, the same on both of its ends. */
export function sessionExporter(socket: TLSSocket): Buffer {
  return socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0));
}

/** K = HKDF-SHA256(ikm = code key, salt = exporter, info = 'p2pfx join v1'). */
export function joinKey(codeKey: Uint8Array, exporter: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', codeKey, exporter, HKDF_INFO, JOIN_KEY_BYTES));
}

/** base64 HMAC-SHA256(K, label + '\n' + canonical JSON of the fields). */
export function joinMac(key: Uint8Array, label: MacLabel, fields: object): string {
  return createHmac('sha256', key).update(`${label}\n${canonicalJson(fields)}`).digest('base64');
}

function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'base64');
  const y = Buffer.from(b, 'base64');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** What the joiner signs with its new key: proof it holds it, bound to this session. */
function popMessage(exporter: Buffer): Buffer {
  return Buffer.concat([Buffer.from('p2pfx-join-pop\n'), exporter]);
}

function provesPossession(spkiDer: Buffer, exporter: Buffer, pop: string): boolean {
  try {
    return verify('sha256', popMessage(exporter), createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }), Buffer.from(pop, 'base64'));
  } catch {
    return false;
  }
}

export interface JoinRequestFields {
  version: number;
  name: string;
  /** base64 DER SubjectPublicKeyInfo of the joiner's fresh ECDSA P-256 key. */
  publicKey: string;
  ips: string[];
}

export interface JoinResponseFields {
  certPem: string;
  caCertPem: string;
  crlPem: string | null;
  /** Node id of the CA node's own certificate, the one its enrollment listener serves. */
  caNodeId: string;
}

// --- invites --------------------------------------------------------------------------------------

export interface CreatedInvite {
  id: string;
  /** Shown once (four dash-separated groups, e.g. K7QM-2XHP-NRTA-4C) and stored nowhere. */
  code: string;
  expiresAt: Date;
}

/** Makes a code and stores its code key in the home's p2pfx.db. */
export async function createInvite(opts: { home: Home; ttlMs?: number; now?: Date }): Promise<CreatedInvite> {
  const code = generateInviteCode();
  const secret = await inviteCodeKey(code);
  const book = new InviteBook(opts.home.dbPath);
  try {
    const invite = book.create(secret, opts.ttlMs ?? DEFAULT_INVITE_TTL_MS, opts.now);
    return { id: invite.id, code, expiresAt: new Date(invite.expiresAt) };
  } finally {
    book.close();
  }
}

/** Ends a pending invite now; its code stops working on every listener. */
export function withdrawInvite(home: Home, id: string): void {
  const book = new InviteBook(home.dbPath);
  try {
    book.withdraw(id);
  } finally {
    book.close();
  }
}

// --- the CA side ----------------------------------------------------------------------------------

export interface JoinedEvent {
  inviteId: string;
  nodeId: string;
  name: string;
  ips: string[];
  /** The certificate handed out (for a record of issued certificates). */
  certPem: string;
}

export interface EnrollmentServerOptions {
  home: Home;
  host: string;
  port: number;
  /** pino logger options, or false for none. */
  logger?: boolean | Record<string, unknown>;
  /** Called once a joiner's certificate was sent (its invite is then used). */
  onJoin?: (e: JoinedEvent) => void;
}

export interface EnrollmentServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The enrollment listener: HTTPS, TLS 1.3, this node's own certificate, no client certificate
 * asked for. Answers POST /v1/join for the invites in the home's p2pfx.db. Throws CERTS_MISSING
 * or CA_KEY_MISSING when the home is not the CA's, PORT_IN_USE when the port is taken.
 */
export async function startEnrollmentServer(opts: EnrollmentServerOptions): Promise<EnrollmentServer> {
  const { home } = opts;
  const creds = await loadCredentials(home);
  const ca = await requireCa(home, 'only the CA\'s machine can invite');
  // A joiner checks that this server's certificate chains to the CA it receives: fail here, not there.
  if (!isSignedBy(creds.certPem, creds.caCertPem)) {
    throw new P2pfxError('CERT_INVALID', `${home.nodeCertPath} is not signed by ${home.caCertPath}, or is expired`);
  }

  const book = new InviteBook(home.dbPath);
  const index = new IndexDb(home.dbPath); // issued certificates, for `certs list` and `certs revoke`
  const failures = new FailureWindow(MAX_FAILED_JOINS, RATE_WINDOW_MS);
  const app = Fastify({
    https: { key: creds.keyPem, cert: creds.certPem, minVersion: TLS_MIN_VERSION, ciphers: TLS13_CIPHERS },
    logger: opts.logger ?? false,
    bodyLimit: REQUEST_BODY_LIMIT,
    requestTimeout: SERVER_TIMEOUT_MS,
    connectionTimeout: SERVER_TIMEOUT_MS,
    keepAliveTimeout: 5_000,
    exposeHeadRoutes: false,
    // The MAC covers the body as sent: no coercion, no stripping.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toWireError(err);
    if (e.code === 'INTERNAL') request.log.error({ err }, 'internal error');
    void reply.status(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new P2pfxError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; this is an enrollment listener (POST ${JOIN_PATH})`).toJSON());
  });

  app.post<{ Body: JoinRequestFields & { mac: string; pop: string } }>(JOIN_PATH, {
    schema: {
      body: {
        type: 'object',
        required: ['version', 'name', 'publicKey', 'ips', 'pop', 'mac'],
        additionalProperties: false,
        properties: {
          version: { type: 'integer', enum: [JOIN_PROTOCOL_VERSION] },
          name: { type: 'string', maxLength: 64 },
          publicKey: { type: 'string', maxLength: 1024, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
          pop: { type: 'string', maxLength: 256, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
          ips: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
          mac: { type: 'string', pattern: MAC_B64 },
        },
      },
    },
  }, async (request, reply) => {
    const now = Date.now();
    // Refused before the MAC is even tried: while it lasts, right and wrong codes get the same answer.
    if (failures.full(now)) {
      throw new P2pfxError('JOIN_RATE_LIMITED', `${MAX_FAILED_JOINS} wrong codes were tried in the last ${RATE_WINDOW_MS / 1000} s; no code is tried until a minute has passed`);
    }
    const { mac, pop, ...fields } = request.body;
    const exporter = sessionExporter(request.raw.socket as TLSSocket);
    const match = matchInvite(book.list(), exporter, fields, mac);
    if (match === null) {
      failures.add(now);
      request.log.warn({ remote: request.ip }, 'join refused: no invite matches the code');
      throw new P2pfxError('INVITE_REFUSED', 'no invite of this CA matches the code on this connection');
    }
    refuseUnlessPending(match.invite, new Date(now));
    const spki = Buffer.from(fields.publicKey, 'base64');
    // The joiner must hold the key it asks a certificate for (signed over this session's
    // exporter): a code holder cannot get a certificate naming another node's public key.
    if (!provesPossession(spki, exporter, pop)) {
      throw new P2pfxError('BAD_REQUEST', 'the join request does not prove possession of its public key');
    }
    // Issued before the invite is claimed: bad names or addresses (INVALID_ARGUMENT) leave it open.
    const certPem = await issueNodeCertForPublicKey(ca, spki, { name: fields.name, ips: fields.ips });
    const nodeId = nodeIdFromSpki(spki);
    const crlPem = await readFile(home.crlPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    // Claimed last, with everything else ready. Lost a race (another joiner, or the clock ran out
    // while signing): the certificate is dropped unseen.
    refuseUnlessClaimed(book.claim(match.invite.id, { nodeId, name: fields.name }));
    recordIssued(index, fields.name, certPem);
    const response: JoinResponseFields = { certPem, caCertPem: creds.caCertPem, crlPem, caNodeId: creds.nodeId };
    request.log.info({ inviteId: match.invite.id, nodeId, name: fields.name }, 'joined');
    // Told once the answer is out (or the joiner gone): `invite` closes the listener when told.
    const joined: JoinedEvent = { inviteId: match.invite.id, nodeId, name: fields.name, ips: fields.ips, certPem };
    reply.raw.once('close', () => opts.onJoin?.(joined));
    return { ...response, mac: joinMac(match.key, 'join-response', response) };
  });

  let port: number;
  try {
    port = await listenOrExplain(app, opts.host, opts.port); // closes app when it fails
  } catch (err) {
    book.close();
    index.close();
    throw err;
  }
  return {
    host: opts.host,
    port,
    async close() {
      await app.close();
      book.close();
      index.close();
    },
  };
}

/**
 * The invite whose code key MACs these fields on this session, with its K. Every row is tried
 * to the end (no early exit), so the time taken says nothing about which one matched.
 */
function matchInvite(invites: Invite[], exporter: Buffer, fields: JoinRequestFields, mac: string): { invite: Invite; key: Buffer } | null {
  let found: { invite: Invite; key: Buffer } | null = null;
  for (const invite of invites) {
    const key = joinKey(invite.secret, exporter);
    if (macEquals(joinMac(key, 'join-request', fields), mac) && found === null) found = { invite, key };
  }
  return found;
}

/** Throws INVITE_USED or INVITE_EXPIRED for an invite that is no longer open. */
function refuseUnlessPending(invite: Invite, now: Date): void {
  const state = inviteState(invite, now);
  if (state === 'used') throw new P2pfxError('INVITE_USED', `this invite was already used (at ${invite.usedAt})`);
  if (state === 'expired') throw new P2pfxError('INVITE_EXPIRED', `this invite expired at ${invite.expiresAt}`);
}

function refuseUnlessClaimed(result: ClaimResult): void {
  if (result === 'used') throw new P2pfxError('INVITE_USED', 'this invite was used by another machine a moment ago');
  if (result === 'expired') throw new P2pfxError('INVITE_EXPIRED', 'this invite expired a moment ago');
  if (result === 'missing') throw new P2pfxError('INVITE_REFUSED', 'this invite is no longer kept by the CA');
}

/** Times of failed attempts in a sliding window. */
class FailureWindow {
  private times: number[] = [];

  constructor(private readonly max: number, private readonly windowMs: number) {}

  full(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    return this.times.length >= this.max;
  }

  add(now: number): void {
    this.times.push(now);
  }
}

// --- the joiner's side ----------------------------------------------------------------------------

export interface JoinOptions {
  home: Home;
  host: string;
  port: number;
  /** As the user typed it; checked (INVITE_CODE_INVALID) before anything else. */
  code: string;
  /** This node's name in its certificate: 1..64 of [A-Za-z0-9._-]. */
  name: string;
  /** Addresses for the certificate's SANs. */
  ips?: string[];
  /** Replace a node certificate the home already has. */
  force?: boolean;
  /** Bound on the whole exchange, connection included (default 30 s). */
  timeoutMs?: number;
}

export interface JoinResult {
  nodeId: string;
  name: string;
  caNodeId: string;
  /** The files written, in the order written. */
  files: string[];
}

/**
 * Joins the network of the CA listening at host:port with an invite code. Everything is checked
 * before anything is written: a refused, unverified or failed join leaves the home as it was.
 */
export async function joinNetwork(opts: JoinOptions): Promise<JoinResult> {
  const code = parseInviteCode(opts.code);
  const { home } = opts;
  const label = formatPeer({ host: opts.host, port: opts.port });
  const ips = opts.ips ?? [];
  if (typeof opts.name !== 'string' || !isNodeName(opts.name)) {
    throw new P2pfxError('INVALID_ARGUMENT', `node name ${JSON.stringify(opts.name)} must be 1 to 64 of A-Z a-z 0-9 . _ -`);
  }
  const badIp = ips.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(badIp)} is not an IPv4 or IPv6 address`);
  await checkHomeCanJoin(home, opts.force === true);

  const codeKey = await inviteCodeKey(code);
  const keys = await promisify(generateKeyPair)('ec', { namedCurve: 'P-256' });
  const spkiDer = keys.publicKey.export({ type: 'spki', format: 'der' });
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const fields: JoinRequestFields = { version: JOIN_PROTOCOL_VERSION, name: opts.name, publicKey: spkiDer.toString('base64'), ips };

  const answer = await exchange({ host: opts.host, port: opts.port, label, codeKey, fields, privateKey: keys.privateKey, timeoutMs: opts.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS });
  if (answer.status !== 200) throw listenerError(answer.status, answer.json, label);
  const response = verifyMac(answer.json, answer.key, label);
  await checkResponse(response, { spkiDer, serverCert: answer.serverCert, label });

  // Checked, so written: the node certificate last, as it is what marks a home as joined.
  const files: string[] = [];
  const write = async (path: string, data: string, mode = 0o644): Promise<void> => {
    await writeFileAtomic(path, data, mode);
    files.push(path);
  };
  await write(home.caCertPath, response.caCertPem);
  if (response.crlPem !== null) {
    await write(home.crlPath, response.crlPem);
    const db = new IndexDb(home.dbPath);
    try {
      rememberCrl(db, await readCrl(response.crlPem, response.caCertPem));
    } finally {
      db.close();
    }
  } else await rm(home.crlPath, { force: true }); // with --force: another network's CRL must not stay
  await write(home.nodeKeyPath, keyPem, 0o600);
  await write(home.nodeCertPath, response.certPem);
  return { nodeId: nodeIdFromSpki(spkiDer), name: commonName(response.certPem) || opts.name, caNodeId: response.caNodeId, files };
}

async function checkHomeCanJoin(home: Home, force: boolean): Promise<void> {
  const exists = (path: string) => stat(path).then(() => true, () => false);
  if (await exists(home.caKeyPath)) {
    throw new P2pfxError('CERTS_EXIST', `${home.caKeyPath} exists: this home holds a network CA, which joining would orphan`, {
      hint: 'Join from another home (--home DIR), or move the CA\'s certs/ away first if you really mean to give it up.',
    });
  }
  if (!force && (await exists(home.nodeCertPath))) throw new P2pfxError('CERTS_EXIST', `${home.nodeCertPath} already exists`);
}

interface Answer {
  status: number;
  json: unknown;
  /** K of the session the answer came on. */
  key: Buffer;
  serverCert: X509Certificate | undefined;
}

/**
 * One TLS 1.3 connection, one request. The CA cannot be checked yet (rejectUnauthorized: false):
 * the MACs, bound to this session's exporter, do that. Bounded by timeoutMs from the first byte.
 */
function exchange(o: { host: string; port: number; label: string; codeKey: Buffer; fields: JoinRequestFields; privateKey: KeyObject; timeoutMs: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = tlsConnect({
      host: o.host,
      port: o.port,
      ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
      rejectUnauthorized: false,
      minVersion: TLS_MIN_VERSION,
      ciphers: TLS13_CIPHERS,
    });
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      settle();
    };
    const fail = (err: unknown): void => finish(() => reject(transportError(err, o.label, o.port)));
    const timer = setTimeout(() => fail(new P2pfxError('PEER_TIMEOUT', `${o.label} did not complete the join within ${Math.round(o.timeoutMs / 1000)} s`, {
      hint: 'Check the address and port `p2pfx invite` printed, and that the network is not dropping packets.',
    })), o.timeoutMs);
    // Until the handshake is done a close is a failure; after it, the request reports it.
    const closedEarly = (): void => fail(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' }));
    socket.on('error', fail);
    socket.once('close', closedEarly);
    socket.once('secureConnect', () => {
      socket.off('close', closedEarly);
      let key: Buffer;
      let serverCert: X509Certificate | undefined;
      try {
        key = joinKey(o.codeKey, sessionExporter(socket));
        serverCert = socket.getPeerX509Certificate();
      } catch (err) {
        fail(err);
        return;
      }
      const pop = sign('sha256', popMessage(sessionExporter(socket)), o.privateKey).toString('base64');
      const payload = JSON.stringify({ ...o.fields, pop, mac: joinMac(key, 'join-request', o.fields) });
      const req = httpsRequest({
        method: 'POST',
        host: o.host,
        port: o.port,
        path: JOIN_PATH,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), connection: 'close' },
        createConnection: () => socket,
      }, (res) => {
        const pieces: Buffer[] = [];
        let size = 0;
        res.on('data', (piece: Buffer) => {
          size += piece.length;
          if (size > RESPONSE_BODY_LIMIT) fail(new P2pfxError('PEER_ERROR', `${o.label} sent an answer over ${RESPONSE_BODY_LIMIT} bytes`));
          else pieces.push(piece);
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('connection closed in the middle of the answer'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => finish(() => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(pieces).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, key, serverCert });
        }));
      });
      req.on('error', fail);
      req.end(payload);
    });
  });
}

/** An error answer, as the listener's code when it is one it sends; these answers carry no MAC, so they can deny but never grant. */
function listenerError(status: number, json: unknown, label: string): P2pfxError {
  const wire = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = wire?.code;
  const message = typeof wire?.message === 'string' ? wire.message.slice(0, MAX_PEER_MESSAGE_CHARS) : `HTTP ${status}`;
  if (isErrorCode(code) && LISTENER_CODES.has(code)) return new P2pfxError(code, `${label}: ${message}`);
  return new P2pfxError('PEER_ERROR', `${label} answered the join with HTTP ${status}: ${message}`);
}

/** The answer's fields once its MAC checks; JOIN_UNVERIFIED otherwise. */
function verifyMac(json: unknown, key: Buffer, label: string): JoinResponseFields {
  const unverified = () => new P2pfxError('JOIN_UNVERIFIED', `${label} answered, but its answer is not bound to this code and this connection: it is not the CA that made the invite, or a machine in between relayed it`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw unverified();
  const { mac, ...fields } = json as Record<string, unknown>;
  if (typeof mac !== 'string') throw unverified();
  let expected: string;
  try {
    expected = joinMac(key, 'join-response', fields);
  } catch {
    throw unverified(); // not canonical-JSON material: not something the CA made
  }
  if (!macEquals(mac, expected)) throw unverified();
  const { certPem, caCertPem, crlPem, caNodeId } = fields;
  if (typeof certPem !== 'string' || typeof caCertPem !== 'string' || typeof caNodeId !== 'string' || (crlPem !== null && typeof crlPem !== 'string')) {
    throw new P2pfxError('PEER_ERROR', `${label} sent a malformed join answer (certPem, caCertPem, crlPem, caNodeId)`);
  }
  return { certPem, caCertPem, crlPem, caNodeId };
}

/**
 * What the MAC alone does not promise: that the certificates fit together. A holder of the code
 * who is not the CA could MAC an answer; it still has to be signed by the CA whose certificate
 * the listener itself presents, and carry the key this machine made.
 */
async function checkResponse(r: JoinResponseFields, ctx: { spkiDer: Buffer; serverCert: X509Certificate | undefined; label: string }): Promise<void> {
  const misfit = (why: string, cause?: unknown) => new P2pfxError('JOIN_UNVERIFIED', `${ctx.label} knew the code but its answer does not fit together: ${why}`, {
    hint: 'Nothing was saved. Make sure the address is the CA\'s machine, then ask its owner for a new invite.',
    cause,
  });
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = readCertPem(r.caCertPem);
    cert = readCertPem(r.certPem);
  } catch (err) {
    throw misfit('a certificate in it is unreadable', err);
  }
  if (!ca.ca) throw misfit('the CA certificate is not a CA certificate');
  if (!isSignedBy(r.certPem, r.caCertPem)) throw misfit('the node certificate is not signed by the CA certificate sent with it, or is not valid now');
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(ctx.spkiDer)) throw misfit('the node certificate is for another key than the one this machine made');
  if (ctx.serverCert === undefined) throw misfit('the listener presented no certificate');
  const serverPem = ctx.serverCert.toString();
  if (!isSignedBy(serverPem, r.caCertPem)) throw misfit('the listener\'s own TLS certificate is not signed by that CA');
  if (nodeIdFromCertPem(serverPem) !== r.caNodeId) throw misfit(`the listener's certificate is not that of CA node ${r.caNodeId}`);
  if (r.crlPem !== null) {
    // Checked as every CRL a node takes (pki/crl.ts): one that TLS would choke on must not be saved.
    await readCrl(r.crlPem, r.caCertPem).catch((err: unknown) => {
      if (err instanceof P2pfxError && err.code === 'CRL_INVALID') throw new P2pfxError('CRL_INVALID', `${ctx.label} sent a CRL that cannot be taken: ${err.message}`, { cause: err });
      throw err;
    });
  }
}

function commonName(certPem: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(readCertPem(certPem).subject)?.[1] ?? '';
}

/** Socket and TLS failures as the user can act on them, with host:port (as net/client.ts does). */
function transportError(err: unknown, label: string, port: number): P2pfxError {
  if (err instanceof P2pfxError) return err;
  const codes = errorCodes(err);
  const has = (...wanted: string[]) => wanted.some((c) => codes.includes(c));
  const inviteHint = 'Check that `p2pfx invite` is still running on the CA\'s machine, that HOST:PORT is what it printed, and that its firewall lets the port through.';
  const common = commonSocketError(err, codes, label, port, inviteHint);
  if (common !== null) return common;
  if (codes.some((c) => /CERTIFICATE_REQUIRED/.test(c))) {
    return new P2pfxError('INVALID_PEER', `${label} asks for a client certificate: it is a node's API port (\`p2pfx serve\`), not the enrollment listener of \`p2pfx invite\``, {
      cause: err, hint: `Use the address and port \`p2pfx invite\` printed (${ENROLL_PORT} unless it was given --port).`,
    });
  }
  if (has('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG')) {
    return new P2pfxError('PEER_ERROR', `TLS handshake with ${label} failed: it does not speak TLS 1.3 (is it \`p2pfx invite\`?)`, { cause: err, hint: inviteHint });
  }
  if (has('ECONNRESET', 'EPIPE', 'ECONNABORTED') || codes.some((c) => c.startsWith('ERR_SSL_'))) {
    return new P2pfxError('PEER_UNREACHABLE', `connection to ${label} was closed before it answered (${codes.join(', ')}); a node's API port closes it like this`, { cause: err, hint: inviteHint });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new P2pfxError('PEER_ERROR', `joining through ${label} failed: ${message}`, { cause: err });
}
