// Certificate revocation lists of the network CA. Pure: PEM and options in, PEM or facts out.
// The CA signs a CRL; nodes pass it to Node's TLS (the `crl` option), which then refuses revoked
// certificates during the handshake. Taking a CRL is therefore only safe once readCrl has
// checked everything OpenSSL would fail every handshake over: signer, issuer and dates.
import 'reflect-metadata'; // @peculiar/x509 v2 (through tsyringe) throws on load without it
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { P2pfxError } from '../core/errors.js';
import { normalizeSerialHex, type CrlInfo } from './crl-facts.js';
import { CLOCK_SKEW_MS, loadCa, parseCertPem, type CertAndKey } from './ca.js';

x509.cryptoProvider.set(webcrypto);

// What the rest of p2pfx reads of a CRL, without loading @peculiar/x509 (~18 MiB): crl-facts.ts.
export { isNewer, isRevoked, normalizeSerialHex, type CrlInfo } from './crl-facts.js';

const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CRL_NUMBER_OID = '2.5.29.20';
const MAX_CRL_NUMBER_OCTETS = 20; // RFC 5280 5.2.3
const MAX_CRL_NUMBER = (1n << BigInt(8 * MAX_CRL_NUMBER_OCTETS - 1)) - 1n; // positive and within 20 octets
const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** RFC 5280 reason codes a CA of certificates may give (not removeFromCRL, for delta CRLs, nor aACompromise). */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface RevokedCert {
  /** The certificate's serial number in hex, any case, with or without a leading 00 byte. */
  serialHex: string;
  revokedAt: Date;
  reason?: RevocationReason;
}

export interface CrlOptions {
  /** CRL Number: a positive integer that grows with every CRL the CA issues; isNewer compares it. */
  number: bigint | number;
  revoked: readonly RevokedCert[];
  now?: Date;
  /** Defaults to the CA certificate's notAfter; see createCrl. */
  nextUpdate?: Date;
}


/**
 * A CRL signed by the CA, as PEM ("-----BEGIN X509 CRL-----"): issuer the CA's subject, ECDSA
 * SHA-256, CRL Number and Authority Key Identifier (the CA's SKI) extensions.
 *
 * nextUpdate defaults to the CA certificate's notAfter. Once a node loads a CRL whose nextUpdate
 * has passed, OpenSSL fails every handshake that checks it ("CRL has expired", also for
 * certificates that are not revoked): a CA that stopped issuing CRLs, or a node that did not meet
 * a peer with a newer one, would lock the whole network out. The CA certificate's own end is the
 * one date after which nothing works anyway; until then a CRL stays in force until replaced by a
 * newer one, which is how p2pfx spreads them (by CRL number, not by date).
 *
 * Throws INVALID_ARGUMENT for bad options and CERT_INVALID when `ca` is not a CA with its own key.
 */
export async function createCrl(ca: CertAndKey, opts: CrlOptions): Promise<string> {
  const number = checkCrlNumber(opts.number);
  const start = opts.now === undefined ? Date.now() : opts.now.getTime();
  if (!Number.isFinite(start)) throw new P2pfxError('INVALID_ARGUMENT', '`now` is not a valid date');
  // Backdated as certificates are: a peer whose clock runs a little behind the CA's still takes the
  // CRL (OpenSSL fails every handshake with "CRL is not yet valid" while thisUpdate lies ahead).
  const thisUpdate = new Date(start - CLOCK_SKEW_MS);
  const signer = await loadCa(ca);
  const nextUpdate = opts.nextUpdate ?? signer.cert.notAfter;
  if (!(nextUpdate.getTime() > thisUpdate.getTime())) {
    throw new P2pfxError('INVALID_ARGUMENT', `nextUpdate ${nextUpdate.toISOString()} must come after thisUpdate ${thisUpdate.toISOString()}`);
  }
  const crl = await x509.X509CrlGenerator.create({
    issuer: signer.cert.subjectName,
    thisUpdate,
    nextUpdate,
    signingKey: signer.key,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.Extension(CRL_NUMBER_OID, false, derInteger(number)),
      new x509.AuthorityKeyIdentifierExtension(signer.keyId, false),
    ],
    entries: checkEntries(opts.revoked),
  });
  // @peculiar/x509 writes "BEGIN CRL"; OpenSSL, and so Node's `crl` option, reads only "BEGIN X509 CRL".
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

/**
 * The facts of a CRL of this network, after checking it is safe to hand to TLS: exactly one PEM
 * X509 CRL, issued by the CA certificate's subject, signature verified with the CA's key, a CRL
 * number, no critical extension (OpenSSL refuses those it does not handle), and valid at `now`
 * (thisUpdate not ahead, nextUpdate not passed: either makes OpenSSL fail every handshake).
 * Throws CRL_INVALID otherwise; CERT_INVALID when caCertPem is unreadable.
 */
export async function readCrl(crlPem: string, caCertPem: string, now: Date = new Date()): Promise<CrlInfo> {
  const caCert = parseCertPem(caCertPem);
  const crl = parseCrlPem(crlPem);
  if (!bytesEqual(crl.issuerName.toArrayBuffer(), caCert.subjectName.toArrayBuffer())) {
    throw new P2pfxError('CRL_INVALID', `the CRL is issued by "${crl.issuer}", not by the network CA "${caCert.subject}"`);
  }
  let verified: boolean;
  try {
    verified = await crl.verify({ publicKey: caCert.publicKey });
  } catch {
    verified = false; // e.g. the two signature algorithm fields disagree
  }
  if (!verified) throw new P2pfxError('CRL_INVALID', `the CRL's signature does not verify with the key of "${caCert.subject}"`);

  let info: Omit<CrlInfo, 'pem'>;
  try {
    const critical = crl.extensions.find((e) => e.critical);
    if (critical !== undefined) {
      throw new P2pfxError('CRL_INVALID', `the CRL has a critical extension ${critical.type} that TLS would refuse`);
    }
    const numbers = crl.extensions.filter((e) => e.type === CRL_NUMBER_OID);
    if (numbers.length !== 1) throw new P2pfxError('CRL_INVALID', `the CRL has ${numbers.length} CRL Number extensions, expected 1`);
    info = {
      number: readDerInteger(new Uint8Array(numbers[0]!.value)),
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate ?? null,
      revokedSerials: crl.entries.map((entry) => normalizeSerialHex(entry.serialNumber)),
    };
  } catch (cause) {
    if (cause instanceof P2pfxError) throw cause;
    throw new P2pfxError('CRL_INVALID', 'the CRL has a malformed extension or entry', { cause });
  }
  const t = now.getTime();
  if (info.thisUpdate.getTime() > t) {
    throw new P2pfxError('CRL_INVALID', `the CRL is not valid before ${info.thisUpdate.toISOString()} (is this machine's clock behind?)`);
  }
  if (info.nextUpdate !== null && info.nextUpdate.getTime() <= t) {
    throw new P2pfxError('CRL_INVALID', `the CRL expired at ${info.nextUpdate.toISOString()}`);
  }
  // Re-encoded from the DER that was checked: text around or inside the PEM that OpenSSL might read
  // differently (a stray BEGIN line, a second block) is never kept or passed on.
  return { ...info, pem: x509.PemConverter.encode(crl.rawData, 'X509 CRL') };
}


function parseCrlPem(crlPem: string): x509.X509Crl {
  const blocks = typeof crlPem === 'string' ? [...crlPem.matchAll(BLOCK_RE)] : [];
  if (blocks.length !== 1 || blocks[0]![1] !== 'X509 CRL') {
    const found = blocks.map((b) => b[1]).join(', ') || 'nothing';
    throw new P2pfxError('CRL_INVALID', `expected one PEM X509 CRL block, found ${found}`);
  }
  try {
    return new x509.X509Crl(blocks[0]![0]);
  } catch (cause) {
    throw new P2pfxError('CRL_INVALID', 'the PEM block is not a valid X.509 CRL', { cause });
  }
}

function checkCrlNumber(value: bigint | number): bigint {
  const valid = typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value));
  const number = valid ? BigInt(value) : -1n;
  if (number < 1n || number > MAX_CRL_NUMBER) {
    throw new P2pfxError('INVALID_ARGUMENT', `the CRL number must be a whole number from 1 to 2^159-1, got ${String(value)}`);
  }
  return number;
}

function checkEntries(revoked: readonly RevokedCert[]): x509.X509CrlEntryParams[] {
  const seen = new Set<string>();
  return revoked.map(({ serialHex, revokedAt, reason }) => {
    const serial = normalizeSerialHex(serialHex);
    if (seen.has(serial)) throw new P2pfxError('INVALID_ARGUMENT', `serial ${serial} is listed twice`);
    seen.add(serial);
    if (!(revokedAt instanceof Date) || !Number.isFinite(revokedAt.getTime())) {
      throw new P2pfxError('INVALID_ARGUMENT', `the revocation date of serial ${serial} is not a valid date`);
    }
    if (reason !== undefined && !Object.hasOwn(REASON_CODES, reason)) {
      throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(reason)} is not a revocation reason`);
    }
    // 'unspecified' is left out of the entry, as RFC 5280 5.3.1 asks (the generator drops code 0).
    return { serialNumber: serial, revocationDate: revokedAt, ...(reason === undefined ? {} : { reason: REASON_CODES[reason] }) };
  });
}

const REASON_CODES: Record<RevocationReason, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  cACompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  certificateHold: x509.X509CrlReason.certificateHold,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
};

/** DER of a non-negative INTEGER (short length form: enough for 20 octets). */
function derInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`; // keep it positive
  const content = Buffer.from(hex, 'hex');
  return new Uint8Array([0x02, content.length, ...content]);
}

/** The value of a DER INTEGER that must be non-negative and at most 20 octets (RFC 5280 5.2.3). */
function readDerInteger(der: Uint8Array): bigint {
  const length = der[1] ?? 0;
  const content = der.subarray(2);
  const minimal = length === 1 || !(content[0] === 0 && (content[1] ?? 0) < 0x80);
  if (der[0] !== 0x02 || length < 1 || length > MAX_CRL_NUMBER_OCTETS + 1 || content.length !== length || !minimal) {
    throw new P2pfxError('CRL_INVALID', 'the CRL Number is not a DER INTEGER of at most 20 octets');
  }
  if ((content[0]! & 0x80) !== 0) throw new P2pfxError('CRL_INVALID', 'the CRL Number is negative');
  return BigInt(`0x${Buffer.from(content).toString('hex')}`);
}

function bytesEqual(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
