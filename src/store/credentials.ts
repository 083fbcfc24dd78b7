// This node's keys and certificates, read from certs/ (and the X25519 key made on first use).
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { generateX25519, rawX25519, type X25519KeyPair } from '../core/envelope.js';
import { P2pfxError } from '../core/errors.js';
import { nodeIdFromCertPem } from '../pki/node-id.js';
import { createExclusive } from './fs-atomic.js';
import type { Home } from './home.js';

export interface Credentials {
  caCertPem: string;
  certPem: string;
  keyPem: string;
  crlPem: string | null;
  x25519: X25519KeyPair;
  nodeId: string;
  name: string;
}

/** Throws CERTS_MISSING naming the first absent file and how to make it. */
export async function loadCredentials(home: Home): Promise<Credentials> {
  const [caCertPem, certPem, keyPem] = await Promise.all([
    readRequired(home, home.caCertPath), readRequired(home, home.nodeCertPath), readRequired(home, home.nodeKeyPath),
  ]);
  const crlPem = await readOptional(home.crlPath);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    new X509Certificate(caCertPem);
    createPrivateKey(keyPem);
  } catch (err) {
    throw new P2pfxError('CERT_INVALID', `unreadable certificate or key in ${home.certsDir}`, { cause: err });
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new P2pfxError('CERT_INVALID', `${home.nodeKeyPath} is not the key of ${home.nodeCertPath}`);
  }
  const name = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? 'node';
  return { caCertPem, certPem, keyPem, crlPem, x25519: await loadOrCreateX25519(home), nodeId: nodeIdFromCertPem(certPem), name };
}

/** The key-agreement key never leaves this machine; it is made on first use. */
async function loadOrCreateX25519(home: Home): Promise<X25519KeyPair> {
  const pem = await readOptional(home.x25519KeyPath);
  if (pem !== null) {
    const privateKey = createPrivateKey(pem);
    return { privateKey, publicKey: rawX25519(createPublicKey(privateKey)) };
  }
  const pair = generateX25519();
  // Two processes on one home may both get here: the first link wins and the other reads it.
  if (!(await createExclusive(home.x25519KeyPath, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }), 0o600))) {
    return loadOrCreateX25519(home);
  }
  return pair;
}

async function readRequired(home: Home, path: string): Promise<string> {
  const text = await readOptional(path);
  if (text === null) throw certsMissing(home, path);
  return text;
}

/**
 * CERTS_MISSING for this home: which home was looked in (the tool may have found another one than
 * the user meant), what is missing, and the three ways out — never just "make a CA", which would
 * start a second network beside the user's.
 */
export function certsMissing(home: Home, path: string): P2pfxError {
  return new P2pfxError('CERTS_MISSING', `the p2pfx home ${home.root} holds no node certificate (missing ${path})`, {
    hint: `If your node lives elsewhere, pass --home DIR (or set $P2PFX_HOME). To join an existing network, run \`p2pfx join HOST CODE\` with a code from \`p2pfx invite\` on the CA machine. To start a new network with this machine as its CA, run \`p2pfx certs\`.`,
  });
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
