// What goes wrong talking to a peer, named so a user can act on it (net/client.ts): a request
// that got no answer (refused, unreachable, timed out, a certificate refused one way or the
// other, told apart from a crash by one probe), and an error answer (the peer's own code when it
// is one of ours, else PEER_ERROR). Also the bounded JSON reader of peer replies.
import { connect as connectTls, type SecureContextOptions } from 'node:tls';
import { P2pfxError, isErrorCode } from '../core/errors.js';
import type { PeerAddress } from './peer-address.js';
import { HEALTH_PATH } from './protocol/identity.js';
import { timeoutError, type TransportResponse } from './peer-transport.js';
import { commonSocketError, errorCodes } from './transport-errors.js';

const PROBE_TIMEOUT_MS = 3_000;
/** A connection the peer cut: a crash, a restart, or a refused certificate (told apart by a probe). */
const CUT_CODES = ['ECONNRESET', 'EPIPE', 'ECONNABORTED'];

// TLS alerts the peer sends when it refuses our certificate.
const ALERT_RE = /ALERT_(UNKNOWN_CA|CERTIFICATE_REQUIRED|BAD_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR|HANDSHAKE_FAILURE|ACCESS_DENIED|CERTIFICATE_UNKNOWN)/;
// What our side says when the peer's certificate is not one of this network's.
const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT',
  'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'UNABLE_TO_GET_CRL',
]);

/** The client, as the mappers see it. */
export interface PeerSide {
  label: string;
  peer: PeerAddress;
  tlsOptions: SecureContextOptions;
  /** This node holds a CRL that revokes its own certificate. */
  selfRevoked: boolean;
  /** The user named the peer by a word that is not in the peer book (so taken as a host name). */
  unknownName: boolean;
}

/** A request that got no answer: what the transport says, told apart from a refused certificate. */
export async function requestError(err: unknown, side: PeerSide): Promise<P2pfxError> {
  const mapped = peerTransportError(err, side);
  const cut = errorCodes(err).some((c) => CUT_CODES.includes(c));
  if (mapped.code === 'PEER_UNREACHABLE' && cut && (await closesAfterHandshake(side))) {
    if (side.selfRevoked) return selfRevokedError(side.label, err);
    return new P2pfxError('CERT_REJECTED', `peer ${side.label} closed the connection right after the TLS handshake without answering: it refuses this node's certificate (not from its CA, expired, or revoked)`, { cause: err });
  }
  return mapped;
}

/** The peer's error answer as a P2pfxError: its code when it is one of ours, else PEER_ERROR. */
export async function answerError(res: TransportResponse, method: string, path: string, label: string): Promise<P2pfxError> {
  let wire: { error?: { code?: unknown; message?: unknown } } = {};
  try {
    wire = (await readJson(res, 64 * 1024, label)) as typeof wire;
  } catch {
    // a body that is not our JSON error: reported below as PEER_ERROR
  }
  const code = wire.error?.code;
  const message = typeof wire.error?.message === 'string' ? wire.error.message : `HTTP ${res.status}`;
  if (isErrorCode(code) && code !== 'INTERNAL') return new P2pfxError(code, `peer ${label}: ${message}`);
  return new P2pfxError('PEER_ERROR', `peer ${label} answered ${method} ${path} with HTTP ${res.status}: ${message}`);
}

/**
 * Told apart from a crash, a node that refuses our certificate in TLS 1.3 completes the
 * handshake from our side and then closes without a byte: probe once to say which.
 */
function closesAfterHandshake(side: PeerSide): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const socket = connectTls({
      ...side.tlsOptions, host: side.peer.host, port: side.peer.port, rejectUnauthorized: true,
      checkServerIdentity: () => undefined,
    });
    const timer = setTimeout(() => socket.destroy(), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => socket.write(`GET ${HEALTH_PATH} HTTP/1.1\r\nHost: ${side.label}\r\nConnection: close\r\n\r\n`));
    socket.once('data', () => {
      answered = true;
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(!answered && socket.authorized);
    });
  });
}

function selfRevokedError(label: string, cause: unknown): P2pfxError {
  return new P2pfxError('CERT_REVOKED', `this node's certificate was revoked by the network CA: peer ${label} refuses it`, { cause });
}

/** Maps socket, TLS and timeout failures to what the user can act on. */
export function peerTransportError(err: unknown, side: PeerSide): P2pfxError {
  if (err instanceof P2pfxError) return err;
  const codes = errorCodes(err);
  const has = (...wanted: string[]) => wanted.some((c) => codes.includes(c));
  const where = side.label;
  if (codes.some((c) => ALERT_RE.test(c))) {
    if (side.selfRevoked) return selfRevokedError(side.label, err);
    return new P2pfxError('CERT_REJECTED', `peer ${where} refuses this node's certificate: it failed the TLS handshake (${codes.find((c) => ALERT_RE.test(c))})`, { cause: err });
  }
  const verify = codes.find((c) => VERIFY_CODES.has(c));
  if (verify === 'CERT_REVOKED') return new P2pfxError('CERT_REVOKED', `peer ${where} presents a certificate the network CA has revoked; this node refuses it`, { cause: err });
  if (verify) return new P2pfxError('CERT_REJECTED', `the certificate of peer ${where} is not valid for this network (${verify})`, { cause: err });
  if (has('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_WRONG_VERSION_NUMBER')) {
    return new P2pfxError('CERT_REJECTED', `TLS handshake with ${where} failed: it does not speak TLS 1.3 (is it a p2pfx node?)`, { cause: err });
  }
  if (side.unknownName && has('ENOTFOUND', 'EAI_AGAIN')) {
    return new P2pfxError('INVALID_PEER', `${side.peer.host} is neither a peer in the book nor a host name this machine can resolve`, {
      cause: err, hint: 'Run `p2pfx peers` to see the book\'s names and node ids, or give the peer\'s address as HOST[:PORT].',
    });
  }
  const timedOut = timeoutError(err, where) ?? commonSocketError(err, codes, where, side.peer.port);
  if (timedOut !== null) return timedOut;
  if (has(...CUT_CODES)) {
    // Not a refused certificate (requestError probes for that): the peer went away mid-answer.
    return new P2pfxError('PEER_UNREACHABLE', `the connection to ${where} was cut before its answer: the peer stopped, restarted or dropped it`, {
      cause: err, hint: 'Check that `p2pfx serve` still runs there, then run the same command again: a send or a get resumes where it stopped.',
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new P2pfxError('PEER_ERROR', `talking to ${where} failed: ${message}`, { cause: err });
}

/** A reply's body, read whole up to maxBytes; past it the body is dropped and `tooLarge` thrown. */
export async function readBounded(res: TransportResponse, maxBytes: number, tooLarge: () => P2pfxError): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of res.body as AsyncIterable<Buffer>) {
    size += piece.length;
    if (size > maxBytes) {
      res.body.destroy();
      throw tooLarge();
    }
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}

/** A peer's JSON reply, read whole up to maxBytes: PEER_ERROR past it or when it is not JSON. */
export async function readJson(res: TransportResponse, maxBytes: number, label: string): Promise<unknown> {
  const body = await readBounded(res, maxBytes, () => new P2pfxError('PEER_ERROR', `peer ${label} sent a JSON body over ${maxBytes} bytes`));
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new P2pfxError('PEER_ERROR', `peer ${label} sent malformed JSON`, { cause: err });
  }
}
