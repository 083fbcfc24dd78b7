// Revocation between nodes (DESIGN "Trust" → revocation): every answer of a node carries the
// number of the CRL it holds in CRL_NUMBER_HEADER; GET /v1/crl gives that CRL (PEM), PUT /v1/crl
// offers a newer one, kept only if the network CA signed it.
import type { FromSchema } from 'json-schema-to-ts';
import { replyCheck } from './common.js';
import { validate as validateCrlPut } from './generated/crl-put-reply-validate.js';

export const CRL_PATH = '/v1/crl';
export const CRL_NUMBER_HEADER = 'x-p2pfx-crl';
export const PEM_TYPE = 'application/x-pem-file';

export const crlPutReply = {
  type: 'object',
  required: ['taken', 'number'],
  properties: { taken: { type: 'boolean' }, number: { type: 'string', pattern: '^[0-9]{1,40}$' } },
} as const;
export type CrlPutReply = FromSchema<typeof crlPutReply>;
export const CRL_PUT = replyCheck<CrlPutReply>('a CRL offered', validateCrlPut);
