// Reading a PEM certificate with Node's own X.509 parser: cheap to load, enough for node ids,
// signature checks and validity dates. Building certificates needs @peculiar/x509 (ca.ts).
import { X509Certificate } from 'node:crypto';
import { P2pfxError } from '../core/errors.js';

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The one certificate in certPem. Throws CERT_INVALID for anything else (garbage, a key, two certs). */
export function readCertPem(certPem: string): X509Certificate {
  const blocks = typeof certPem === 'string' ? [...certPem.matchAll(BLOCK_RE)] : [];
  if (blocks.length !== 1 || blocks[0]![1] !== 'CERTIFICATE') {
    const found = blocks.map((b) => b[1]).join(', ') || 'nothing';
    throw new P2pfxError('CERT_INVALID', `expected one PEM CERTIFICATE block, found ${found}`);
  }
  try {
    return new X509Certificate(blocks[0]![0]);
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'the PEM block is not a valid X.509 certificate', { cause });
  }
}

/**
 * True iff the CA's public key verifies the certificate's signature and `now` lies within the
 * certificate's validity. A foreign, tampered or expired certificate gives false; only
 * unparseable PEM throws (CERT_INVALID).
 */
export function isSignedBy(certPem: string, caCertPem: string, now: Date = new Date()): boolean {
  const cert = readCertPem(certPem);
  const ca = readCertPem(caCertPem);
  const t = now.getTime();
  if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) return false;
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false; // e.g. an RSA CA against an ECDSA signature
  }
}

/** The subject's common name (a node's name), or '' when it has none. */
export function commonNameOf(certPem: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(readCertPem(certPem).subject)?.[1] ?? '';
}
