// The network CA and the node certificates it signs. Pure: PEM and options in, PEM out.
import 'reflect-metadata'; // @peculiar/x509 v2 (through tsyringe) throws on load without it
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { isNodeName } from '../core/ids.js';
import { P2pfxError } from '../core/errors.js';
import { isSignedBy } from './cert-pem.js';
import { nodeIdFromSpki } from './node-id.js';

x509.cryptoProvider.set(webcrypto);

const DAY_MS = 24 * 60 * 60 * 1000;
/** How far notBefore (and a CRL's thisUpdate) is backdated, so a peer whose clock runs a little behind accepts a fresh cert or CRL. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DEFAULT_CA_VALIDITY_DAYS = 3650;
const DEFAULT_NODE_VALIDITY_DAYS = 825;
const MAX_VALIDITY_DAYS = 36_500;
const MAX_COMMON_NAME_CHARS = 64; // X.520 ub-common-name
const SERIAL_BYTES = 16; // 128 random bits: unguessable, and within RFC 5280's 20-octet cap once made positive
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(?:\\.${DNS_LABEL})*$`); // RFC 1123, no wildcards
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

export interface CertAndKey {
  certPem: string;
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
  keyPem: string;
}

export interface CaOptions {
  commonName?: string;
  validityDays?: number;
  now?: Date;
}

export interface NodeCertOptions {
  /** Subject CN: 1..64 of [A-Za-z0-9._-]. */
  name: string;
  ips?: string[];
  dns?: string[];
  validityDays?: number;
  now?: Date;
  serverAuth?: boolean;
  clientAuth?: boolean;
}

export interface CertInfo {
  subject: string;
  commonName: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  ips: string[];
  dns: string[];
  /** True only when the extended key usage lists it (or anyExtendedKeyUsage); false without the extension. */
  serverAuth: boolean;
  clientAuth: boolean;
  spkiDer: Uint8Array;
  nodeId: string;
  issuer: string;
}

/** A self-signed ECDSA P-256 CA that may sign node certificates only (pathLen 0). */
export async function createCa(opts: CaOptions = {}): Promise<CertAndKey> {
  const commonName = opts.commonName ?? 'p2pfx network CA';
  if (commonName.length < 1 || commonName.length > MAX_COMMON_NAME_CHARS || /\p{Cc}/u.test(commonName)) {
    const why = `must be 1 to ${MAX_COMMON_NAME_CHARS} printable characters`;
    throw new P2pfxError('INVALID_ARGUMENT', `CA common name ${JSON.stringify(commonName)} ${why}`);
  }
  const { notBefore, notAfter } = validityPeriod(opts.now, opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await pkcs8Pem(keys.privateKey) };
}

/** A fresh key pair and its certificate signed by `ca`. */
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions): Promise<CertAndKey> {
  const keys = await generateKeyPair();
  const spkiDer = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const certPem = await issueNodeCertForPublicKey(ca, spkiDer, opts);
  return { certPem, keyPem: await pkcs8Pem(keys.privateKey) };
}

/**
 * A certificate signed by `ca` for a key the caller already has (enrollment: the joiner keeps its
 * private key). Throws INVALID_ARGUMENT for bad options or a key that is not ECDSA P-256, and
 * CERT_INVALID when `ca` is not a CA certificate with its own key.
 */
export async function issueNodeCertForPublicKey(ca: CertAndKey, spkiDer: Uint8Array, opts: NodeCertOptions): Promise<string> {
  const { name, sans, usages } = checkNodeOptions(opts);
  checkNodePublicKey(spkiDer);
  const { notBefore, notAfter } = validityPeriod(opts.now, opts.validityDays ?? DEFAULT_NODE_VALIDITY_DAYS);
  const signer = await loadCa(ca);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.SubjectKeyIdentifierExtension.create(spkiDer),
    new x509.AuthorityKeyIdentifierExtension(signer.keyId, false),
  ];
  // RFC 5280 forbids an empty SAN extension; a cert with no address is still valid for client auth.
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [name] }],
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: spkiDer,
    signingKey: signer.key,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return cert.toString('pem');
}

/** Throws CERT_INVALID when certPem is not one readable certificate. */
export function describeCert(certPem: string): CertInfo {
  const cert = parseCertPem(certPem);
  try {
    const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
    const usages = (cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []).map(String);
    const allows = (usage: string): boolean => usages.includes(usage) || usages.includes(ANY_EXTENDED_KEY_USAGE);
    const spkiDer = new Uint8Array(cert.publicKey.rawData);
    return {
      subject: cert.subject,
      commonName: cert.subjectName.getField('CN')[0] ?? '',
      serialHex: cert.serialNumber,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
      ips: names.filter((n) => n.type === 'ip').map((n) => n.value),
      dns: names.filter((n) => n.type === 'dns').map((n) => n.value),
      serverAuth: allows(x509.ExtendedKeyUsage.serverAuth),
      clientAuth: allows(x509.ExtendedKeyUsage.clientAuth),
      spkiDer,
      nodeId: nodeIdFromSpki(spkiDer),
      issuer: cert.issuer,
    };
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'the certificate has a malformed extension', { cause });
  }
}

/**
 * True iff the CA's public key verifies the certificate's signature and `now` lies within the
 * certificate's validity. A foreign, tampered or expired certificate gives false; only
 * unparseable PEM throws (CERT_INVALID).
 */
export async function verifySignedBy(certPem: string, caCertPem: string, now: Date = new Date()): Promise<boolean> {
  return isSignedBy(certPem, caCertPem, now);
}

/**
 * The one certificate in certPem, parsed. Throws CERT_INVALID.
 */
export function parseCertPem(certPem: string): x509.X509Certificate {
  let blocks: x509.PemStruct[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(certPem);
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'not a PEM certificate', { cause });
  }
  const [block] = blocks;
  if (block === undefined || blocks.length !== 1 || block.type !== 'CERTIFICATE') {
    const found = blocks.map((b) => b.type).join(', ') || 'nothing';
    throw new P2pfxError('CERT_INVALID', `expected one PEM CERTIFICATE block, found ${found}`);
  }
  try {
    return new x509.X509Certificate(block.rawData);
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'the PEM block is not a valid X.509 certificate', { cause });
  }
}

/** True iff keyPem is the private key of the certificate's public key. Unreadable input throws CERT_INVALID. */
export async function keyMatchesCert(certPem: string, keyPem: string): Promise<boolean> {
  const cert = parseCertPem(certPem);
  return publicKeyOf(parsePrivateKey(keyPem)).equals(certPublicKey(cert));
}

function checkNodeOptions(opts: NodeCertOptions): { name: string; sans: x509.JsonGeneralName[]; usages: string[] } {
  if (typeof opts.name !== 'string' || !isNodeName(opts.name)) {
    throw new P2pfxError('INVALID_ARGUMENT', `node name ${JSON.stringify(opts.name)} must be 1 to 64 of A-Z a-z 0-9 . _ -`);
  }
  const ips = [...new Set((opts.ips ?? []).map(canonicalIp))];
  const dns = [...new Set((opts.dns ?? []).map(checkDnsName))];
  const usages: string[] = [];
  if (opts.serverAuth ?? true) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.clientAuth ?? true) usages.push(x509.ExtendedKeyUsage.clientAuth);
  if (usages.length === 0) throw new P2pfxError('INVALID_ARGUMENT', 'a node certificate needs serverAuth, clientAuth or both');
  const sans: x509.JsonGeneralName[] = [
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  return { name: opts.name, sans, usages };
}

/** IPv6 in its compressed, all-hex form: the SAN encoder would misread a dotted IPv4 tail. */
function canonicalIp(ip: string): string {
  const version = typeof ip === 'string' ? isIP(ip) : 0;
  if (version === 0 || ip.includes('%')) {
    throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(ip)} is not an IPv4 or IPv6 address (without a %zone)`);
  }
  return version === 4 ? ip : new URL(`http://[${ip}]`).hostname.slice(1, -1);
}

function checkDnsName(name: string): string {
  const lower = typeof name === 'string' ? name.toLowerCase() : '';
  if (!DNS_NAME.test(lower) || isIP(lower) !== 0) {
    const why = "letters, digits, '-' and '.'; IP addresses go in ips";
    throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(name)} is not a DNS host name (${why})`);
  }
  return lower;
}

function checkNodePublicKey(spkiDer: Uint8Array): void {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new P2pfxError('INVALID_ARGUMENT', 'the public key is not a DER SubjectPublicKeyInfo', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const got = [key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve].filter(Boolean).join(' ');
    throw new P2pfxError('INVALID_ARGUMENT', `the public key must be ECDSA P-256, got ${got}`);
  }
}

export interface CaSigner {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
  /** Hex key identifier (the CA's SKI) for the authorityKeyIdentifier of what it signs: certificates and CRLs. */
  keyId: string;
}

/**
 * A CA certificate and the key that belongs to it, ready to sign. Throws CERT_INVALID when the
 * certificate is not a CA, a PEM is unreadable, the key is not the certificate's or not ECDSA P-256.
 */
export async function loadCa(ca: CertAndKey): Promise<CaSigner> {
  const cert = parseCertPem(ca.certPem);
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    throw new P2pfxError('CERT_INVALID', `"${cert.subject}" is not a CA certificate (basicConstraints CA:false or missing)`);
  }
  const privateKey = parsePrivateKey(ca.keyPem);
  if (!publicKeyOf(privateKey).equals(certPublicKey(cert))) {
    throw new P2pfxError('CERT_INVALID', `the CA key does not belong to the CA certificate "${cert.subject}"`);
  }
  let key: webcrypto.CryptoKey;
  try {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    key = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_KEY, false, ['sign']);
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'the CA key is not an ECDSA P-256 key', { cause });
  }
  // The AKI must equal the CA's own SKI for chain building; compute it only for a CA made elsewhere without one.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
  return { cert, key, keyId };
}

function parsePrivateKey(keyPem: string): KeyObject {
  try {
    return createPrivateKey(keyPem);
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', 'the private key is not a readable PEM key', { cause });
  }
}

function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

function certPublicKey(cert: x509.X509Certificate): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new P2pfxError('CERT_INVALID', `the public key of "${cert.subject}" is unreadable`, { cause });
  }
}

function validityPeriod(now: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
    throw new P2pfxError('INVALID_ARGUMENT', `validityDays must be a whole number from 1 to ${MAX_VALIDITY_DAYS}, got ${days}`);
  }
  const start = now === undefined ? Date.now() : now.getTime();
  if (!Number.isFinite(start)) throw new P2pfxError('INVALID_ARGUMENT', '`now` is not a valid date');
  return { notBefore: new Date(start - CLOCK_SKEW_MS), notAfter: new Date(start + days * DAY_MS) };
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

async function pkcs8Pem(privateKey: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', privateKey), 'PRIVATE KEY');
}

/** Hex of SERIAL_BYTES random bytes; the generator prefixes 0x00 when needed to keep the integer positive. */
function randomSerialHex(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(SERIAL_BYTES))).toString('hex');
}
