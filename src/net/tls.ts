// TLS settings shared by the node's server and its client: TLS 1.3 only, certificates from
// the network's CA on both sides.
import type { SecureContextOptions } from 'node:tls';
import type { Credentials } from '../store/credentials.js';

export const TLS_MIN_VERSION = 'TLSv1.3' as const;

export function tlsContextOptions(creds: Credentials): SecureContextOptions {
  return {
    key: creds.keyPem,
    cert: creds.certPem,
    ca: creds.caCertPem,
    minVersion: TLS_MIN_VERSION,
    ...(creds.crlPem ? { crl: creds.crlPem } : {}),
  };
}

/** Server side: a client without a certificate from the CA is refused during the handshake. */
export function serverTlsOptions(creds: Credentials): SecureContextOptions & { requestCert: true; rejectUnauthorized: true } {
  return { ...tlsContextOptions(creds), requestCert: true, rejectUnauthorized: true };
}
