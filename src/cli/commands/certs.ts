// `p2pfx certs` (the network's CA and this node's certificate) and `p2pfx certs issue NAME`
// (a bundle for another machine: its cert and key and the CA cert, never the CA key).
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { P2pfxError } from '../../core/errors.js';
import { createCa, issueNodeCert } from '../../pki/ca.js';
import { listIssued, readCa, recordIssuedIn, revokeIssued, writeNewCa } from '../../store/ca-home.js';
import type { RevocationReason } from '../../pki/crl.js';
import { nodeIdFromCertPem } from '../../pki/node-id.js';
import { writeFileAtomic } from '../../store/fs-atomic.js';
import { Home } from '../../store/home.js';
import { homeFor, outFor, type GlobalOptions } from '../context.js';
import { defaultNodeName, hostDns, localAddresses, unique } from '../../net/host-info.js';

export interface CertsOptions { name?: string; ip?: string[]; dns?: string[]; force?: boolean }

export async function certsCommand(g: GlobalOptions, opts: CertsOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  if (await exists(home.nodeCertPath) && !opts.force) {
    throw new P2pfxError('CERTS_EXIST', `${home.nodeCertPath} already exists`);
  }
  const held = await readCa(home);
  const createdCa = held === null;
  if (held === null) {
    if (await exists(home.caCertPath) && !opts.force) {
      throw new P2pfxError('CA_KEY_MISSING', `${home.caCertPath} exists without its key: this machine belongs to a network whose CA is elsewhere`, {
        hint: 'Get a certificate from the CA machine (`p2pfx certs issue NAME` there), or pass --force to start a new network here.',
      });
    }
  }
  const ca = held ?? await createCa();
  const name = opts.name ?? defaultNodeName();
  // Made (and so checked: names, addresses) before anything is written.
  const node = await issueNodeCert(ca, { name, ips: unique([...localAddresses(), ...(opts.ip ?? [])]), dns: unique(['localhost', ...hostDns(), ...(opts.dns ?? [])]) });
  await home.create();
  if (createdCa) await writeNewCa(home, ca);
  await writeFileAtomic(home.nodeKeyPath, node.keyPem, 0o600);
  await writeFileAtomic(home.nodeCertPath, node.certPem, 0o644);
  recordIssuedIn(home, name, node.certPem);
  const nodeId = nodeIdFromCertPem(node.certPem);
  if (out.json) {
    out.data({ home: home.root, createdCa, name, nodeId, files: [home.caCertPath, home.caKeyPath, home.nodeCertPath, home.nodeKeyPath] });
    return;
  }
  out.line(createdCa ? `Created the network CA: ${home.caCertPath} (key: ${home.caKeyPath}, keep it on this machine only)` : `Used the existing CA in ${home.certsDir}`);
  out.line(`Created this node's certificate: ${home.nodeCertPath} (key: ${home.nodeKeyPath}, mode 0600)`);
  out.line(`Node ${name}, id ${nodeId}`);
  out.line(createdCa
    ? 'Next: to add a machine, run `p2pfx invite` here: it prints a one-time code and the `p2pfx join` command to type on that machine.'
    : 'Next: run `p2pfx serve` to make this node reachable.');
}

export interface IssueOptions { ip?: string[]; dns?: string[]; out?: string; force?: boolean }

export async function certsIssueCommand(g: GlobalOptions, name: string, opts: IssueOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  const ca = await readCa(home);
  if (ca === null) throw new P2pfxError('CA_KEY_MISSING', `no CA key in ${home.certsDir}`);
  const bundle = new Home(opts.out ? resolve(opts.out) : join(home.root, 'bundles', name));
  if (await exists(bundle.nodeCertPath) && !opts.force) throw new P2pfxError('CERTS_EXIST', `${bundle.nodeCertPath} already exists`);
  const node = await issueNodeCert(ca, { name, ips: unique(['127.0.0.1', '::1', ...(opts.ip ?? [])]), dns: unique(['localhost', ...(opts.dns ?? [])]) });
  await writeFileAtomic(bundle.nodeKeyPath, node.keyPem, 0o600);
  await writeFileAtomic(bundle.nodeCertPath, node.certPem, 0o644);
  await writeFileAtomic(bundle.caCertPath, ca.certPem, 0o644);
  recordIssuedIn(home, name, node.certPem);
  const crl = await readFile(home.crlPath, 'utf8').catch(() => null);
  if (crl !== null) await writeFileAtomic(bundle.crlPath, crl, 0o644);
  const nodeId = nodeIdFromCertPem(node.certPem);
  if (out.json) {
    out.data({ name, nodeId, bundle: bundle.root, files: [bundle.caCertPath, bundle.nodeCertPath, bundle.nodeKeyPath] });
    return;
  }
  out.line(`Issued a certificate for ${name}, id ${nodeId}`);
  out.line(`Bundle: ${bundle.certsDir} (ca-cert.pem, crl.pem, node-cert.pem, node-key.pem — the CA key is not in it)`);
  out.line(`On ${name}: copy that certs/ folder into its p2pfx home (or use ${bundle.root} as --home), then run \`p2pfx serve\`.`);
}

export async function certsListCommand(g: GlobalOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  if ((await readCa(home)) === null) throw new P2pfxError('CA_KEY_MISSING', `no CA key in ${home.certsDir}`);
  const issued = listIssued(home);
  if (out.json) return out.data({ certificates: issued.map(({ certPem: _pem, ...rest }) => rest) });
  if (issued.length === 0) return out.line('This CA has issued no certificate recorded here.');
  for (const c of issued) {
    out.line(`${c.name.padEnd(16)} ${c.nodeId}  issued ${c.issuedAt.slice(0, 10)}${c.revokedAt ? `  REVOKED ${c.revokedAt.slice(0, 10)}` : ''}`);
  }
}

export interface RevokeOptions { reason?: string }

/**
 * Revokes a certificate this CA issued, named by node name or node id: the CRL is signed again
 * with a higher number, and spreads from node to node (each takes a newer valid CRL from any
 * peer it talks to, and refuses the revoked certificate from then on).
 */
export async function certsRevokeCommand(g: GlobalOptions, target: string, opts: RevokeOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  const ca = await readCa(home);
  if (ca === null) throw new P2pfxError('CA_KEY_MISSING', `no CA key in ${home.certsDir}: only the CA machine can revoke`);
  const reason = checkReason(opts.reason);
  const { victim, already, number } = await revokeIssued(home, ca, target, reason);
  if (out.json) return out.data({ revoked: { name: victim.name, nodeId: victim.nodeId, serialHex: victim.serialHex }, alreadyRevoked: already, crlNumber: number.toString(), crl: home.crlPath });
  out.line(`${already ? 'Already revoked' : 'Revoked'} ${victim.name}, node ${victim.nodeId}`);
  out.line(`CRL number ${number} written to ${home.crlPath}; a running node here takes it within seconds,`);
  out.line('and every node takes it from the first peer it talks to that holds it. Nodes that have it refuse that certificate.');
}

const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;

function checkReason(reason: string | undefined): RevocationReason | undefined {
  if (reason === undefined) return undefined;
  const found = REASONS.find((r) => r.toLowerCase() === reason.toLowerCase());
  if (!found) throw new P2pfxError('INVALID_ARGUMENT', `--reason must be one of ${REASONS.join(', ')}, got ${JSON.stringify(reason)}`);
  return found;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
