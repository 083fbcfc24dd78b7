// What a failed socket or TLS connection says about itself, for the error mappers of net/client.ts
// (the node API) and net/enroll.ts (joining).

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
