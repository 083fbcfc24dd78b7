// `p2pfx certs` (the network's CA and this node's certificate) and `p2pfx certs issue NAME`
// (a bundle for another machine: its cert and key and the CA cert, never the CA key).
import { readFile, stat } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { P2pfxError } from '../../core/errors.js';
import { createCa, issueNodeCert, type CertAndKey } from '../../pki/ca.js';
import { nodeIdFromCertPem } from '../../pki/node-id.js';
import { writeFileAtomic } from '../../store/fs-atomic.js';
import { Home } from '../../store/home.js';
import { homeFor, outFor, type GlobalOptions } from '../context.js';

export interface CertsOptions { name?: string; ip?: string[]; dns?: string[]; force?: boolean }

export async function certsCommand(g: GlobalOptions, opts: CertsOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  if (await exists(home.nodeCertPath) && !opts.force) {
    throw new P2pfxError('CERTS_EXIST', `${home.nodeCertPath} already exists`);
  }
  let ca = await readCa(home);
  const createdCa = ca === null;
  if (ca === null) {
    if (await exists(home.caCertPath) && !opts.force) {
      throw new P2pfxError('CA_KEY_MISSING', `${home.caCertPath} exists without its key: this machine belongs to a network whose CA is elsewhere`, {
        hint: 'Get a certificate from the CA machine (`p2pfx certs issue NAME` there), or pass --force to start a new network here.',
      });
    }
    ca = await createCa();
  }
  const name = opts.name ?? defaultNodeName();
  // Made (and so checked: names, addresses) before anything is written.
  const node = await issueNodeCert(ca, { name, ips: unique([...localAddresses(), ...(opts.ip ?? [])]), dns: unique(['localhost', ...hostDns(), ...(opts.dns ?? [])]) });
  if (createdCa) {
    await writeFileAtomic(home.caKeyPath, ca.keyPem, 0o600);
    await writeFileAtomic(home.caCertPath, ca.certPem, 0o644);
  }
  await writeFileAtomic(home.nodeKeyPath, node.keyPem, 0o600);
  await writeFileAtomic(home.nodeCertPath, node.certPem, 0o644);
  const nodeId = nodeIdFromCertPem(node.certPem);
  if (out.json) {
    out.data({ home: home.root, createdCa, name, nodeId, files: [home.caCertPath, home.caKeyPath, home.nodeCertPath, home.nodeKeyPath] });
    return;
  }
  out.line(createdCa ? `Created the network CA: ${home.caCertPath} (key: ${home.caKeyPath}, keep it on this machine only)` : `Used the existing CA in ${home.certsDir}`);
  out.line(`Created this node's certificate: ${home.nodeCertPath} (key: ${home.nodeKeyPath}, mode 0600)`);
  out.line(`Node ${name}, id ${nodeId}`);
  out.line('Next: for each other machine, run `p2pfx certs issue NAME --ip ITS_ADDRESS` here and copy the bundle over.');
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
  const crl = await readFile(home.crlPath, 'utf8').catch(() => null);
  if (crl !== null) await writeFileAtomic(bundle.crlPath, crl, 0o644);
  const nodeId = nodeIdFromCertPem(node.certPem);
  if (out.json) {
    out.data({ name, nodeId, bundle: bundle.root, files: [bundle.caCertPath, bundle.nodeCertPath, bundle.nodeKeyPath] });
    return;
  }
  out.line(`Issued a certificate for ${name}, id ${nodeId}`);
  out.line(`Bundle: ${bundle.certsDir} (ca-cert.pem, node-cert.pem, node-key.pem — the CA key is not in it)`);
  out.line(`On ${name}: copy that certs/ folder into its p2pfx home (or use ${bundle.root} as --home), then run \`p2pfx serve\`.`);
}

async function readCa(home: Home): Promise<CertAndKey | null> {
  try {
    return { certPem: await readFile(home.caCertPath, 'utf8'), keyPem: await readFile(home.caKeyPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Every address of this machine's interfaces that a peer could dial (not link-local v6). */
function localAddresses(): string[] {
  const out = ['127.0.0.1', '::1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue;
      out.push(a.address);
    }
  }
  return out;
}

function hostDns(): string[] {
  const h = hostname();
  return /^[A-Za-z0-9.-]{1,253}$/.test(h) ? [h, ...(h.includes('.') ? [] : [`${h}.local`])] : [];
}

function defaultNodeName(): string {
  const h = hostname().split('.')[0] ?? 'node';
  return /^[A-Za-z0-9._-]{1,64}$/.test(h) ? h : 'node';
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
