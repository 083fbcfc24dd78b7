// Enrollment (DESIGN "Trust"), the joining side: `p2pfx join HOST CODE` makes this machine's key
// pair, proves the invite code over the TLS session, and checks and saves the certificate, the CA
// and the CRL it gets back (the listener is net/enroll.ts, what both share net/protocol/enrollment.ts).
import { generateKeyPair, sign, type KeyObject, type X509Certificate } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { isNodeName } from '../core/ids.js';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import { isSignedBy, readCertPem } from '../pki/cert-pem.js';
import { readCrl } from '../pki/crl.js';
import { remember as rememberCrl } from '../store/revocation.js';
import { inviteCodeKey, parseInviteCode } from '../pki/invite-code.js';
import { nodeIdFromCertPem, nodeIdFromSpki } from '../pki/node-id.js';
import { writeFileAtomic } from '../store/fs-atomic.js';
import type { Home } from '../store/home.js';
import { IndexDb } from '../store/index-db.js';
import { formatPeer } from './peer-address.js';
import { TLS13_CIPHERS, TLS_MIN_VERSION } from './tls.js';
import { commonSocketError, errorCodes } from './transport-errors.js';
import { firstFault } from './protocol/common.js';
import { DEFAULT_JOIN_TIMEOUT_MS, ENROLL_PORT, JOIN_PATH, JOIN_RESPONSE, JOIN_PROTOCOL_VERSION, type JoinRequestFields, type JoinResponseFields, LISTENER_CODES, MAX_PEER_MESSAGE_CHARS, RESPONSE_BODY_LIMIT, joinKey, joinMac, macEquals, popMessage, sessionExporter } from './protocol/enrollment.js';

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
  /** Where the CA node's API serves, when its listener said (else the default port is tried). */
  caPort: number | null;
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
  await home.create();
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
  return { nodeId: nodeIdFromSpki(spkiDer), name: commonName(response.certPem) || opts.name, caNodeId: response.caNodeId, caPort: response.caPort ?? null, files };
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
  if (!JOIN_RESPONSE.validate(fields)) {
    throw new P2pfxError('PEER_ERROR', `${label} sent a malformed join answer: ${firstFault(JOIN_RESPONSE.validate)}`);
  }
  const { certPem, caCertPem, crlPem, caNodeId, caPort } = fields as unknown as JoinResponseFields;
  return { certPem, caCertPem, crlPem, caNodeId, ...(caPort === undefined ? {} : { caPort }) };
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
    return new P2pfxError('PEER_UNREACHABLE', `the connection to ${label} was cut before it answered: the listener stopped, or this is not the enrollment listener (a node's API port cuts it like this)`, { cause: err, hint: inviteHint });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new P2pfxError('PEER_ERROR', `joining through ${label} failed: ${message}`, { cause: err });
}

