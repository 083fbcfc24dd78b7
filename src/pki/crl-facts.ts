// The facts of a CRL already checked (crl.ts reads and checks them), and what nodes do with
// them: is a certificate on it, is one CRL newer than another. Only node:crypto: commands that
// merely consult the CRL do not load @peculiar/x509.
import { P2pfxError } from '../core/errors.js';
import { readCertPem } from './cert-pem.js';

const HEX = /^[0-9a-f]+$/;

export interface CrlInfo {
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Serial numbers as normalizeSerialHex gives them: lowercase, no leading 00 bytes. */
  revokedSerials: string[];
  pem: string;
}

/**
 * True iff the certificate's serial number is on the CRL. Only the serial is compared: serials are
 * unique per issuer, and the caller has already checked that the certificate was signed by the CA
 * whose CRL this is (the TLS handshake, or isSignedBy). Throws CERT_INVALID for unreadable certPem.
 */
export function isRevoked(info: CrlInfo, certPem: string): boolean {
  const serial = normalizeSerialHex(readCertPem(certPem).serialNumber);
  return info.revokedSerials.includes(serial);
}

/** True iff `a` replaces `b`: a higher CRL number, or there is no `b`. */
export function isNewer(a: CrlInfo, b: CrlInfo | null): boolean {
  return b === null || a.number > b.number;
}

/**
 * A serial number as one spelling: lowercase hex, whole bytes, no leading 00 bytes. The DER
 * integer of a serial whose first bit is set starts with 00, which some readers keep (OpenSSL's
 * text, the DER bytes) and others drop (@peculiar/x509, Node's X509Certificate.serialNumber).
 * Throws INVALID_ARGUMENT for anything but hex digits (colons between bytes are allowed).
 */
export function normalizeSerialHex(serialHex: string): string {
  let hex = typeof serialHex === 'string' ? serialHex.replaceAll(':', '').toLowerCase() : '';
  if (!HEX.test(hex)) throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(serialHex)} is not a hex serial number`);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}
