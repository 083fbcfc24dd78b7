// The error answers of p2pfx's HTTPS listeners (the node API of net/server.ts and the enrollment
// listener of net/enroll.ts): one P2pfxError, sent as its JSON with its status.
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
    default: break;
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new P2pfxError('BAD_REQUEST', err.message);
  return new P2pfxError('INTERNAL', 'internal error', { cause: err });
}
