// What a failed socket or TLS connection says about itself, for the error mappers of net/peer-errors.ts
// (the node API) and net/enroll.ts (joining), and the failures both name the same way.
import { P2pfxError } from '../core/errors.js';

/** An error of the transport itself: what the socket or TLS said (its `code`), for the caller to map. */
export class TransportError extends Error {
  constructor(message: string, readonly code: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The error codes along err's cause chain (at most 5 deep): each `code`, and the OpenSSL reason
 * (ERR_SSL_… or …ALERT_…) a message names, e.g. an alert the peer sent during the handshake.
 */
export function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string') {
      const m = /\b(ERR_SSL_[A-Z0-9_]+|[A-Z_]*ALERT_[A-Z_]+)\b/.exec(msg);
      if (m) codes.push(m[1]!);
    }
  }
  return codes;
}

/**
 * The failures any connection to `label` (HOST:PORT) meets the same way: refused, unreachable,
 * timed out while connecting. Null for the rest, which each mapper names for its own protocol
 * (certificates, closes, what the listener is). `hint` replaces the code's default.
 */
export function commonSocketError(err: unknown, codes: readonly string[], label: string, port: number, hint?: string): P2pfxError | null {
  const has = (...wanted: string[]) => wanted.some((c) => codes.includes(c));
  const opts = { cause: err, ...(hint === undefined ? {} : { hint }) };
  if (has('ECONNREFUSED')) return new P2pfxError('PEER_UNREACHABLE', `connection refused by ${label}: nothing listens on port ${port}`, opts);
  // Said in words: the system's codes (kept in the cause, shown with --debug) explain nothing.
  if (has('ENOTFOUND', 'EAI_AGAIN')) return new P2pfxError('PEER_UNREACHABLE', `cannot reach ${label}: its host name does not resolve on this machine`, opts);
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return new P2pfxError('PEER_UNREACHABLE', `cannot reach ${label}: no route to it from this machine's networks`, opts);
  if (has('EADDRNOTAVAIL')) return new P2pfxError('PEER_UNREACHABLE', `cannot reach ${label}: the address cannot be used from this machine`, opts);
  if (has('ETIMEDOUT')) return new P2pfxError('PEER_TIMEOUT', `connecting to ${label} timed out`, opts);
  return null;
}
