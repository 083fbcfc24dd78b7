// Enrollment (DESIGN "Trust"), the CA's side: the invites and the listener of `p2pfx invite`
// (the joining side is net/join.ts, what both share net/protocol/enrollment.ts). The joiner sends its
// public key and gets back its node certificate, the CA certificate and the CRL; the CA key stays
// where it is.
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { P2pfxError } from '../core/errors.js';
import { issueNodeCertForPublicKey } from '../pki/ca.js';
import { recordIssued, requireCa } from '../store/ca-home.js';
import { isSignedBy } from '../pki/cert-pem.js';
import { generateInviteCode, inviteCodeKey } from '../pki/invite-code.js';
import { nodeIdFromSpki } from '../pki/node-id.js';
import { loadCredentials } from '../store/credentials.js';
import type { Home } from '../store/home.js';
import { IndexDb } from '../store/index-db.js';
import { InviteBook, inviteState, type ClaimResult, type Invite } from '../store/invite-book.js';
import { listenOrExplain } from './listen.js';
import { TLS13_CIPHERS, TLS_MIN_VERSION } from './tls.js';
import { createHttpFront, sourceKey, type SourceBounds } from './http-front.js';
import { DEFAULT_INVITE_TTL_MS, ENROLL_MAX_CONNECTIONS, ENROLL_SOURCE_BOUNDS, JOIN_PATH, type JoinRequest, type JoinRequestFields, type JoinResponseFields, joinRequest, MAX_FAILED_JOINS, RATE_WINDOW_MS, REQUEST_BODY_LIMIT, SERVER_TIMEOUT_MS, joinKey, joinMac, macEquals, provesPossession, sessionExporter } from './protocol/enrollment.js';

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
  /** The port the CA node's own API serves on, when it runs beside this listener: the joiner adds it to its peer book. */
  apiPort?: number;
  /** Bounds per source address (default ENROLL_SOURCE_BOUNDS; the fuzz test sends more). */
  perSource?: SourceBounds;
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
  const app = await createHttpFront({
    https: { key: creds.keyPem, cert: creds.certPem, minVersion: TLS_MIN_VERSION, ciphers: TLS13_CIPHERS },
    logger: opts.logger ?? false,
    bodyLimit: REQUEST_BODY_LIMIT,
    requestTimeoutMs: SERVER_TIMEOUT_MS,
    idleTimeoutMs: SERVER_TIMEOUT_MS,
    handshakeTimeoutMs: SERVER_TIMEOUT_MS,
    keepAliveTimeoutMs: 5_000,
    // The MAC covers the body as sent: no coercion, no stripping.
    coerceTypes: false,
    notFoundHint: `this is an enrollment listener (POST ${JOIN_PATH})`,
    // The one port a machine without a certificate can reach: no source may crowd out the others.
    perSource: opts.perSource ?? ENROLL_SOURCE_BOUNDS,
    maxConnections: ENROLL_MAX_CONNECTIONS,
  });

  app.post<{ Body: JoinRequest }>(JOIN_PATH, {
    schema: { body: joinRequest },
  }, async (request, reply) => {
    const now = Date.now();
    const source = sourceKey(request.raw.socket.remoteAddress);
    // Refused before the MAC is even tried: while it lasts, right and wrong codes from this source
    // get the same answer. Other sources go on: a machine guessing cannot lock out the joiner.
    if (failures.full(source, now)) {
      throw new P2pfxError('JOIN_RATE_LIMITED', `${MAX_FAILED_JOINS} wrong codes were tried from this address in the last ${RATE_WINDOW_MS / 1000} s; no code from it is tried until a minute has passed`);
    }
    const { mac, pop, ...fields } = request.body;
    const exporter = sessionExporter(request.raw.socket as TLSSocket);
    const match = matchInvite(book.list(), exporter, fields, mac);
    if (match === null) {
      failures.add(source, now);
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
    const response: JoinResponseFields = { certPem, caCertPem: creds.caCertPem, crlPem, caNodeId: creds.nodeId, ...(opts.apiPort ? { caPort: opts.apiPort } : {}) };
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

/** Times of failed attempts per source in a sliding window; at most MAX_SOURCES sources kept. */
class FailureWindow {
  private static readonly MAX_SOURCES = 10_000;
  private readonly times = new Map<string, number[]>();

  constructor(private readonly max: number, private readonly windowMs: number) {}

  full(source: string, now: number): boolean {
    const recent = (this.times.get(source) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length === 0) this.times.delete(source);
    else this.times.set(source, recent);
    return recent.length >= this.max;
  }

  add(source: string, now: number): void {
    const times = this.times.get(source) ?? [];
    this.times.delete(source); // re-inserted last: the map's order is the order of last failure
    this.times.set(source, [...times, now]);
    if (this.times.size > FailureWindow.MAX_SOURCES) this.times.delete(this.times.keys().next().value!);
  }
}

// --- the joiner's side ----------------------------------------------------------------------------

