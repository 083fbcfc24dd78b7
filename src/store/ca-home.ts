// The network CA as a home holds it — on the CA machine only (DESIGN "Trust"): its key read and
// checked against its certificate, each certificate it issues recorded (so `certs revoke` can name
// it), revocation and the CRL's numbering. One place for `certs`, `certs issue`, `certs list`,
// `certs revoke`, the enrollment listener, the menu and the UI.
import { access, readFile } from 'node:fs/promises';
import { P2pfxError } from '../core/errors.js';
import { keyMatchesCert, type CertAndKey } from '../pki/ca.js';
import { readCertPem } from '../pki/cert-pem.js';
import { createCrl, readCrl, type RevocationReason, type RevokedCert } from '../pki/crl.js';
import { normalizeSerialHex } from '../pki/crl-facts.js';
import { nodeIdFromCertPem, normalizeNodeId } from '../pki/node-id.js';
import { writeFileAtomic } from './fs-atomic.js';
import type { Home } from './home.js';
import { IndexDb, type IssuedCert } from './index-db.js';
import { remember as rememberCrl } from './revocation.js';

/** The highest CRL number this CA has issued (kept apart from crl.pem, which can be lost). */
const CRL_NUMBER_SETTING = 'ca.crlNumber';

/** Whether this home holds the CA's key (it is the CA machine). */
export async function holdsCa(home: Home): Promise<boolean> {
  return access(home.caKeyPath).then(() => true, () => false);
}

/** The CA's certificate and key, or null where either file is missing. */
export async function readCa(home: Home): Promise<CertAndKey | null> {
  try {
    return { certPem: await readFile(home.caCertPath, 'utf8'), keyPem: await readFile(home.caKeyPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The CA, for a command only the CA machine can run: CA_KEY_MISSING (`why` says what needs it)
 * where the key is not here, CERT_INVALID where it is not the key of the CA's certificate.
 */
export async function requireCa(home: Home, why: string): Promise<CertAndKey> {
  const ca = await readCa(home);
  if (ca === null) throw new P2pfxError('CA_KEY_MISSING', `no CA key in ${home.certsDir}: ${why}`);
  if (!(await keyMatchesCert(ca.certPem, ca.keyPem))) throw new P2pfxError('CERT_INVALID', `${home.caKeyPath} is not the key of ${home.caCertPath}`);
  return ca;
}

/** Records a certificate the CA issued to node `name`. */
export function recordIssued(db: IndexDb, name: string, certPem: string): void {
  db.recordIssued({
    serialHex: normalizeSerialHex(readCertPem(certPem).serialNumber), nodeId: nodeIdFromCertPem(certPem), name, certPem,
    issuedAt: new Date().toISOString(), revokedAt: null,
  });
}

/** Records, in the home's index, a certificate the CA issued to node `name`. */
export function recordIssuedIn(home: Home, name: string, certPem: string): void {
  withIndex(home, (db) => recordIssued(db, name, certPem));
}

/** Every certificate this CA recorded as issued, revoked ones included. */
export function listIssued(home: Home): IssuedCert[] {
  return withIndex(home, (db) => db.listIssued());
}

/**
 * Writes a new network CA (made by pki/ca.ts createCa) into this home: its key (0600) and
 * certificate, and an empty CRL (number 1), so that every node it enrolls holds one to compare.
 * The caller has checked there is none.
 */
export async function writeNewCa(home: Home, ca: CertAndKey): Promise<void> {
  const crl = await createCrl(ca, { number: 1, revoked: [] });
  await writeFileAtomic(home.caKeyPath, ca.keyPem, 0o600);
  await writeFileAtomic(home.caCertPath, ca.certPem, 0o644);
  await writeFileAtomic(home.crlPath, crl, 0o644);
  const info = await readCrl(crl, ca.certPem);
  withIndex(home, (db) => {
    rememberCrl(db, info); // recorded as checked: the next command need not parse it
    db.setSetting(CRL_NUMBER_SETTING, info.number.toString());
  });
}

export interface Revoked { victim: IssuedCert; already: boolean; number: bigint }

/**
 * Revokes a certificate this CA issued, named by node name or node id: the CRL is signed again
 * with every revoked serial and a number higher than any this CA issued, written to crl.pem, and
 * spreads from node to node. Throws CERT_NOT_FOUND, AMBIGUOUS_NAME, or INVALID_ARGUMENT for the
 * CA machine's own certificate.
 */
export async function revokeIssued(home: Home, ca: CertAndKey, target: string, reason?: RevocationReason): Promise<Revoked> {
  const db = new IndexDb(home.dbPath);
  try {
    const issued = db.listIssued();
    const victim = pickIssued(issued, target);
    const own = await readFile(home.nodeCertPath, 'utf8').catch(() => null);
    if (own !== null && nodeIdFromCertPem(own) === victim.nodeId) {
      throw new P2pfxError('INVALID_ARGUMENT', `${victim.name} (${victim.nodeId}) is this machine's own certificate; the CA machine cannot revoke itself`);
    }
    const oldPem = await readFile(home.crlPath, 'utf8').catch(() => null);
    const old = oldPem === null ? null : await readCrl(oldPem, ca.certPem);
    const now = new Date();
    const revoked: RevokedCert[] = issued.filter((c) => c.revokedAt !== null).map((c) => ({ serialHex: c.serialHex, revokedAt: new Date(c.revokedAt!) }));
    for (const serial of old?.revokedSerials ?? []) {
      if (!revoked.some((r) => normalizeSerialHex(r.serialHex) === serial)) revoked.push({ serialHex: serial, revokedAt: now });
    }
    const already = revoked.some((r) => normalizeSerialHex(r.serialHex) === victim.serialHex);
    if (!already) revoked.push({ serialHex: victim.serialHex, revokedAt: now, ...(reason ? { reason } : {}) });
    // The number only grows, even if crl.pem was lost or restored from an old copy: nodes that
    // hold a higher number would ignore a lower one, and the revocation would never arrive.
    const recorded = BigInt(db.getSetting(CRL_NUMBER_SETTING) ?? '0');
    const number = (old !== null && old.number > recorded ? old.number : recorded) + 1n;
    const pem = await createCrl(ca, { number, revoked, now });
    await writeFileAtomic(home.crlPath, pem, 0o644);
    rememberCrl(db, await readCrl(pem, ca.certPem));
    db.setSetting(CRL_NUMBER_SETTING, number.toString());
    db.markRevoked(victim.serialHex, now.toISOString());
    return { victim, already, number };
  } finally {
    db.close();
  }
}

function pickIssued(issued: IssuedCert[], target: string): IssuedCert {
  let byId: string | null = null;
  try {
    byId = normalizeNodeId(target);
  } catch {
    // not a node id: a name
  }
  const matches = issued.filter((c) => (byId !== null ? c.nodeId === byId : c.name === target));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new P2pfxError('AMBIGUOUS_NAME', `${matches.length} certificates are named ${JSON.stringify(target)}: ${matches.map((m) => `${m.nodeId} (issued ${m.issuedAt.slice(0, 10)})`).join(', ')}`, {
      hint: 'Revoke one by its node id.',
    });
  }
  throw new P2pfxError('CERT_NOT_FOUND', `this CA issued no certificate to a node ${byId !== null ? 'with id' : 'named'} ${JSON.stringify(target)}`);
}

function withIndex<T>(home: Home, fn: (db: IndexDb) => T): T {
  const db = new IndexDb(home.dbPath);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
