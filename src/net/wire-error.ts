// The error answers of p2pfx's listeners (every one made by net/http-front.ts: the node API, the
// enrollment listener, the web UI): one P2pfxError, sent as its JSON with its status.
import { STATUS_CODES } from 'node:http';
import type { FastifyError } from 'fastify';
import { P2pfxError } from '../core/errors.js';

/**
 * Maps anything a route throws to the wire's small set of codes; unknown becomes INTERNAL.
 * A P2pfxError passes as it is; a failed schema is INVALID_ID for path parameters, else BAD_REQUEST.
 */
export function toWireError(err: FastifyError): P2pfxError {
  if (err instanceof P2pfxError) return err;
  if (err.validation) {
    const code = err.validationContext === 'params' ? 'INVALID_ID' : 'BAD_REQUEST';
    return new P2pfxError(code, `${err.validationContext ?? 'request'}: ${err.message}`);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new P2pfxError('PAYLOAD_TOO_LARGE', err.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new P2pfxError('UNSUPPORTED_MEDIA_TYPE', err.message);
    // Met before any route (fastify's frameworkErrors); the path is not echoed back.
    case 'FST_ERR_BAD_URL': return new P2pfxError('BAD_REQUEST', 'the URL is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH': return new P2pfxError('INVALID_ID', 'a path parameter is longer than any id');
    // The client went away in the middle of its body (Node's "aborted"): not a fault of ours.
    case 'ECONNRESET': return new P2pfxError('BAD_REQUEST', 'the request was cut off before its body ended');
    default: break;
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new P2pfxError('BAD_REQUEST', err.message);
  return new P2pfxError('INTERNAL', 'internal error', { cause: err });
}

/**
 * The whole answer to a request HTTP itself refused (fastify's clientErrorHandler), for writing
 * straight to the socket: BAD_REQUEST saying why. A request past its time keeps HTTP's 408
 * (no code of ours has that status).
 */
export function clientErrorAnswer(err: Error & { code?: string }): string {
  let e: P2pfxError;
  let status: number | undefined;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': e = new P2pfxError('BAD_REQUEST', 'the request\'s headers are over the size limit'); break;
    case 'ERR_HTTP_REQUEST_TIMEOUT': e = new P2pfxError('REQUEST_TIMEOUT', 'the request did not arrive in time'); status = 408; break;
    default: e = new P2pfxError('BAD_REQUEST', `malformed HTTP request${err.code ? ` (${err.code})` : ''}`);
  }
  const code = status ?? e.status;
  const body = JSON.stringify(e.toJSON());
  return `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
