// `p2pfx doctor`: what a node needs, checked one thing a line — the home, the certificates and
// their dates, the CRL, the API port, multicast for LAN discovery, and each peer in the book —
// as `OK`, `WARN` or `FAIL` with what to do; exit 1 if anything FAILs. Each check asks the code
// the node itself runs (credentials, revocation, clients), so it fails where the node would.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename } from 'node:path';
import { ERROR_CODES, toP2pfxError, type ErrorCode } from '../../core/errors.js';
import { multicastInterfaces } from '../../net/discovery.js';
import type { PeerClient } from '../../net/client.js';
import { formatPeer } from '../../net/peer-address.js';
import { clientFor, resolvePeers } from '../../net/peers.js';
import { commonNameOf, isSignedBy, readCertPem } from '../../pki/cert-pem.js';
import { loadCredentials, type Credentials } from '../../store/credentials.js';
import { HOME_ENV, type Home, type HomeSource } from '../../store/home.js';
import type { BookPeer } from '../../store/index-db.js';
import { LocalNode } from '../../store/local-node.js';
import { canMake, DOWNLOADS_SOURCE_WORDS, unusable, type Downloads } from '../../store/downloads.js';
import { outFor, parsePort, resolveHomeFor, type GlobalOptions } from '../context.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface Check {
  /** Stable, for scripts: home, certificates, node-cert-signed, node-cert-expiry, ca-cert-expiry, crl, index, downloads, port, multicast, peers, peer:NODE_ID. */
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do; null when there is nothing to do. */
  hint: string | null;
  /** The error code of docs/errors.md a FAIL stands for, where one does. */
  code: ErrorCode | null;
}

/** How long each peer (and whoever holds the API port) has to answer the health call. */
const DOCTOR_PEER_TIMEOUT_MS = 3_000;
/** A certificate that ends within this many days is a WARN: time to renew it. */
const EXPIRY_WARN_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

const NO_CERTS_HINT = 'Use the home that has them with --home DIR (or $P2PFX_HOME); or join a network with `p2pfx join HOST CODE` (the code `p2pfx invite` prints on the CA machine); or start a new network here with `p2pfx certs`.';
const RENEW_NODE_HINT = 'Get a new certificate before then: `p2pfx invite` on the CA machine, then `p2pfx join HOST CODE --force` here (on the CA machine itself: `p2pfx certs --force`).';
const RENEW_CA_HINT = 'The network needs a new CA before then: on the CA machine move certs/ aside and run `p2pfx certs`, then every other machine joins again.';
const OTHER_PORT_HINT = 'Stop it, or serve this home on another port with `p2pfx serve --port N` (and check that one with `p2pfx doctor --port N`).';

export async function doctorCommand(g: GlobalOptions, opts: { port: string }): Promise<void> {
  const out = outFor(g);
  const port = parsePort(opts.port);
  const { home, source } = resolveHomeFor(g);
  const checks: Check[] = [await checkHome(home, SOURCE_WORDS[source])];
  const { check, creds } = await checkCertificates(home);
  checks.push(check);
  let node: LocalNode | null = null;
  if (creds !== null) {
    checks.push(
      checkSignature(home, creds),
      checkExpiry('node-cert-expiry', 'node certificate', creds.certPem, RENEW_NODE_HINT),
      checkExpiry('ca-cert-expiry', 'CA certificate', creds.caCertPem, RENEW_CA_HINT),
    );
    // Opening the node is what every command does first: it reads and checks the CRL.
    try {
      node = await LocalNode.open(home);
      checks.push(checkCrl(home, node), await checkDownloads(node.downloads));
    } catch (err) {
      const e = toP2pfxError(err);
      checks.push(e.code === 'CRL_INVALID' ? fail('crl', `${e.code}: ${e.message}`, e.hint, e.code) : fail('index', `the node does not open: ${e.code}: ${e.message}`, e.hint, e.code));
    }
  }
  try {
    checks.push(await checkPort(node, port), await checkMulticast(), ...(await checkPeers(node)));
  } finally {
    node?.close();
  }
  const ok = !checks.some((c) => c.status === 'FAIL');
  if (!ok) process.exitCode = 1;
  if (out.json) return out.data({ ok, checks });
  for (const c of checks) out.line(`${c.status.padEnd(4)} ${c.detail}${c.hint === null ? '' : ` — ${c.hint}`}`);
}

function ok(name: string, detail: string): Check {
  return { name, status: 'OK', detail, hint: null, code: null };
}

function warn(name: string, detail: string, hint: string): Check {
  return { name, status: 'WARN', detail, hint, code: null };
}

function fail(name: string, detail: string, hint: string, code: ErrorCode | null = null): Check {
  return { name, status: 'FAIL', detail, hint, code };
}

/** How the home line names where its home came from. */
const SOURCE_WORDS: Record<HomeSource, string> = {
  option: 'from --home',
  env: `from $${HOME_ENV}`,
  'legacy-cwd': 'current folder (old default)',
  default: 'default',
};

async function checkHome(home: Home, source: string): Promise<Check> {
  const where = `home ${home.root} (${source})`;
  try {
    await stat(home.root);
    await access(home.root, constants.R_OK | constants.W_OK | constants.X_OK);
    return ok('home', `${where}: found, readable and writable`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    if (code === 'ENOENT') return fail('home', `${where} does not exist`, 'Give the node\'s home with --home DIR (or $P2PFX_HOME); `p2pfx certs` or `p2pfx join` makes a new one.');
    return fail('home', `${where} is not readable and writable (${code})`, 'Give it back to this user (`ls -ld` shows its owner and mode), or use another home with --home DIR.');
  }
}

async function checkCertificates(home: Home): Promise<{ check: Check; creds: Credentials | null }> {
  try {
    const creds = await loadCredentials(home);
    return { check: ok('certificates', `certificates in ${home.certsDir}: node ${creds.name}, id ${creds.nodeId}`), creds };
  } catch (err) {
    const e = toP2pfxError(err);
    if (e.code !== 'CERTS_MISSING') return { check: fail('certificates', `${e.code}: ${e.message}`, e.hint, e.code), creds: null };
    const files = [home.caCertPath, home.nodeCertPath, home.nodeKeyPath];
    const missing = (await Promise.all(files.map(async (f) => ((await stat(f).then(() => true, () => false)) ? null : basename(f))))).filter((f) => f !== null);
    return { check: fail('certificates', `no certificates in the home ${home.root} (certs/ lacks ${missing.join(', ')})`, NO_CERTS_HINT, e.code), creds: null };
  }
}

function checkSignature(home: Home, creds: Credentials): Check {
  // isSignedBy also wants `now` within the certificate's dates; those are the expiry check's
  // business, so the signature is checked at a moment the certificate is valid.
  const validTo = new Date(Date.parse(readCertPem(creds.certPem).validTo));
  if (isSignedBy(creds.certPem, creds.caCertPem, validTo)) return ok('node-cert-signed', `node certificate signed by the network CA (${commonNameOf(creds.caCertPem)})`);
  return fail('node-cert-signed', `${home.nodeCertPath} is not signed by the CA certificate ${home.caCertPath}: they come from two networks`, 'Put this network\'s CA certificate in certs/ca-cert.pem, or join the network again: `p2pfx join HOST CODE --force`.', 'CERT_INVALID');
}

function checkExpiry(name: string, what: string, certPem: string, renew: string, now = Date.now()): Check {
  const cert = readCertPem(certPem);
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  const end = new Date(notAfter).toISOString().slice(0, 10);
  if (now < notBefore) return fail(name, `the ${what} is not valid before ${new Date(notBefore).toISOString()}`, 'Is this machine\'s clock behind? Set it right (the other nodes check dates too).');
  if (now > notAfter) return fail(name, `the ${what} expired on ${end}`, renew);
  const days = Math.floor((notAfter - now) / DAY_MS);
  if (days < EXPIRY_WARN_DAYS) return warn(name, `the ${what} expires in ${days} days (${end})`, renew);
  return ok(name, `${what} valid until ${end} (${days} days)`);
}

/** The CRL as the node took it when it opened (checked against the CA, valid now). */
function checkCrl(home: Home, node: LocalNode): Check {
  const info = node.revocation.current();
  if (info === null) return warn('crl', `no revocation list (${home.crlPath})`, 'Copy certs/crl.pem from the CA machine, or let the node take it from the first peer that holds one.');
  if (node.revocation.selfRevoked) return fail('crl', `this node's certificate is revoked (CRL number ${info.number})`, ERROR_CODES.CERT_REVOKED.hint, 'CERT_REVOKED');
  const until = info.nextUpdate === null ? '' : `, until ${info.nextUpdate.toISOString().slice(0, 10)}`;
  return ok('crl', `CRL number ${info.number}, signed by the network CA and valid now${until} (${info.revokedSerials.length} revoked)`);
}

/** The folder files sent to this node land in: a folder this user can write, or one `serve` can make (doctor makes nothing). */
async function checkDownloads(d: Downloads): Promise<Check> {
  const where = `downloads folder ${d.dir} (${DOWNLOADS_SOURCE_WORDS[d.source]})`;
  const info = await stat(d.dir).catch(() => null);
  if (info === null) {
    if (await canMake(d.dir)) return ok('downloads', `${where}: not there yet, \`p2pfx serve\` makes it`);
  } else if (info.isDirectory() && (await access(d.dir, constants.W_OK | constants.X_OK).then(() => true, () => false))) {
    return ok('downloads', `${where}: found and writable`);
  }
  const e = unusable(d, info === null ? 'it cannot be made there' : info.isDirectory() ? 'this user may not write there' : 'a file stands where a folder should be');
  return fail('downloads', e.message, e.hint, e.code);
}

/**
 * Free, or held by this home's own running node (it answers the health call on loopback with this
 * node's id); anything else holding it is a FAIL, since `p2pfx serve` could not listen there.
 */
async function checkPort(node: LocalNode | null, port: number): Promise<Check> {
  if (port === 0) return ok('port', 'API port 0: `p2pfx serve --port 0` takes any free port (its first line says which)');
  const code = await bindError(port);
  if (code === null) return ok('port', `API port ${port} is free: \`p2pfx serve\` can listen on it (no node serves there now)`);
  if (code !== 'EADDRINUSE') return fail('port', `\`p2pfx serve\` cannot listen on port ${port} (${code})`, 'Ports under 1024 need privileges: serve on another port with `p2pfx serve --port N`.', 'INVALID_ARGUMENT');
  if (node === null) return fail('port', `API port ${port} is in use; without this home's certificates doctor cannot ask who holds it`, OTHER_PORT_HINT, 'PORT_IN_USE');
  const client = clientFor(node, { address: { host: '127.0.0.1', port }, nodeId: null, name: null }, { connections: 1, connectTimeoutMs: DOCTOR_PEER_TIMEOUT_MS, idleTimeoutMs: DOCTOR_PEER_TIMEOUT_MS });
  try {
    await client.health();
    if (client.nodeId === node.creds.nodeId) return ok('port', `API port ${port} is held by this home's running node (\`p2pfx serve\`, node ${node.creds.nodeId})`);
    return fail('port', `API port ${port} is held by another node of this network (${client.nodeId ?? 'unknown'}), not this home's`, OTHER_PORT_HINT, 'PORT_IN_USE');
  } catch (err) {
    return fail('port', `API port ${port} is in use by a program that does not answer as a node of this network (${toP2pfxError(err).code})`, OTHER_PORT_HINT, 'PORT_IN_USE');
  } finally {
    await client.close();
  }
}

/** null when the port can be bound on every interface, as `serve` binds it by default (released at once). */
function bindError(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'unknown'));
    server.listen({ host: '0.0.0.0', port }, () => server.close(() => resolve(null)));
  });
}

async function checkMulticast(): Promise<Check> {
  const found = await multicastInterfaces();
  if (found.size === 0) {
    return warn('multicast', 'no IPv4 interface with MULTICAST is up: LAN discovery can neither announce this node nor hear others', 'Add peers by address with `p2pfx peers add HOST[:PORT]`; discovery works once such an interface is up.');
  }
  return ok('multicast', `LAN discovery can use ${[...found].map(([name, address]) => `${name} (${address})`).join(', ')}`);
}

async function checkPeers(node: LocalNode | null): Promise<Check[]> {
  if (node === null) return [warn('peers', 'the peer book was not checked: the node does not open', 'Fix what FAILs above, then run `p2pfx doctor` again.')];
  const book = node.db.listPeers();
  if (book.length === 0) return [warn('peers', 'the peer book is empty', 'Add a peer with `p2pfx peers add HOST[:PORT]`, or let `p2pfx serve` or `p2pfx peers discover` find them on the LAN.')];
  return Promise.all(book.map((p) => checkPeer(node, p)));
}

/** One health call, through the client every command uses, bound to the node id the book has. */
async function checkPeer(node: LocalNode, peer: BookPeer): Promise<Check> {
  const name = `peer:${peer.nodeId}`;
  const label = `peer ${peer.name} at ${peer.addresses[0] ? formatPeer(peer.addresses[0]) : 'no address'}`;
  let client: PeerClient | null = null;
  try {
    const [target] = resolvePeers(node, [peer.nodeId]);
    client = clientFor(node, target!, { connections: 1, connectTimeoutMs: DOCTOR_PEER_TIMEOUT_MS, idleTimeoutMs: DOCTOR_PEER_TIMEOUT_MS });
    await client.health();
    return ok(name, `${label} answers as node ${client.nodeId ?? peer.nodeId}`);
  } catch (err) {
    const e = toP2pfxError(err);
    return fail(name, `${label}: ${e.code}: ${e.message}`, e.hint, e.code);
  } finally {
    await client?.close();
  }
}
