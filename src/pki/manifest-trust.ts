// Whether a manifest read from a peer can be believed: its shape (core/manifest), its
// signature, and its signer — a node certificate of this network, not revoked, whose node id it names.
import { P2pfxError } from '../core/errors.js';
import { parseManifest, verifyManifestSignature, type Manifest } from '../core/manifest.js';
import { isSignedBy } from './cert-pem.js';
import { isRevoked, type CrlInfo } from './crl-facts.js';
import { nodeIdFromCertPem } from './node-id.js';

/** Throws BAD_MANIFEST (saying which check failed) unless every check holds. */
export async function checkManifest(input: unknown, caCertPem: string, crl: CrlInfo | null = null): Promise<Manifest> {
  const m = parseManifest(input);
  let signerId: string;
  try {
    signerId = nodeIdFromCertPem(m.sender.certPem);
  } catch (err) {
    throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: sender certificate is unreadable`, { cause: err });
  }
  if (signerId !== m.sender.nodeId) {
    throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: sender node id does not match its certificate`);
  }
  if (!isSignedBy(m.sender.certPem, caCertPem)) {
    throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: signed by a certificate that is not from this network's CA (or has expired)`);
  }
  if (crl !== null && isRevoked(crl, m.sender.certPem)) {
    throw new P2pfxError('BAD_MANIFEST', `manifest ${m.fileId}: signed by ${m.sender.nodeId}, whose certificate the network CA has revoked`);
  }
  verifyManifestSignature(m);
  return m;
}
