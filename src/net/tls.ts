// TLS settings shared by the node's server and its client: TLS 1.3 only, certificates from
// the network's CA on both sides.
import type { SecureContextOptions } from 'node:tls';
import type { Credentials } from '../store/credentials.js';

export const TLS_MIN_VERSION = 'TLSv1.3' as const;
/**
 * TLS 1.3 suites, AES-128-GCM first: the transport's secrecy rests on the handshake, every chunk
 * is already sealed with AES-256-GCM inside it, and AES-128 costs less CPU per byte.
 */
export const TLS13_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export function tlsContextOptions(creds: Credentials): SecureContextOptions {
  return {
    key: creds.keyPem,
    cert: creds.certPem,
    ca: creds.caCertPem,
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS13_CIPHERS,
    ...(creds.crlPem ? { crl: creds.crlPem } : {}),
  };
}

/** Server side: a client without a certificate from the CA is refused during the handshake. */
export function serverTlsOptions(creds: Credentials): SecureContextOptions & { requestCert: true; rejectUnauthorized: true } {
  return { ...tlsContextOptions(creds), requestCert: true, rejectUnauthorized: true };
}
