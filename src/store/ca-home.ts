// The network CA as a home holds it — on the CA machine only: its key read and checked against
// its certificate, and each certificate it issues recorded (so `certs revoke` can name it). One
// place for `certs`, `certs issue`, `certs revoke`, the enrollment listener, the menu and the UI.
import { access, readFile } from 'node:fs/promises';
import { P2pfxError } from '../core/errors.js';
import { keyMatchesCert, type CertAndKey } from '../pki/ca.js';
import { readCertPem } from '../pki/cert-pem.js';
import { normalizeSerialHex } from '../pki/crl-facts.js';
import { nodeIdFromCertPem } from '../pki/node-id.js';
import type { Home } from './home.js';
import type { IndexDb } from './index-db.js';

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
