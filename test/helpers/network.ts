// Test fixtures: a temporary home per node, certificates from our own pki, real mTLS servers
// on loopback (port 0), real SQLite. Every resource is closed through t.after.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createCa, issueNodeCert, type CertAndKey, type NodeCertOptions } from '../../src/pki/ca.js';
import { PeerClient, type PeerClientOptions } from '../../src/net/client.js';
import { startNode, type RunningNode } from '../../src/node/run-node.js';
import { writeFileAtomic } from '../../src/store/fs-atomic.js';
import { Home } from '../../src/store/home.js';
import { LocalNode } from '../../src/store/local-node.js';

export async function tempDir(t: TestContext, prefix = 'p2pfx-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a CA-signed identity into `root`/certs and returns the home. */
export async function makeHome(root: string, ca: CertAndKey, opts: Partial<NodeCertOptions> & { withCaKey?: boolean } = {}): Promise<Home> {
  const home = new Home(root);
  const node = await issueNodeCert(ca, { name: opts.name ?? 'node', ips: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '::1'], dns: ['localhost'], ...opts });
  await writeFileAtomic(home.caCertPath, ca.certPem);
  if (opts.withCaKey) await writeFileAtomic(home.caKeyPath, ca.keyPem, 0o600);
  await writeFileAtomic(home.nodeCertPath, node.certPem);
  await writeFileAtomic(home.nodeKeyPath, node.keyPem, 0o600);
  return home;
}

export interface TestNode {
  node: LocalNode;
  home: Home;
  server: RunningNode | null;
  address: string;
  client(to: TestNode, opts?: PeerClientOptions): PeerClient;
}

export interface TestNetwork {
  dir: string;
  ca: CertAndKey;
  add(name: string, opts?: { host?: string; serve?: boolean; inbox?: boolean }): Promise<TestNode>;
}

export async function makeNetwork(t: TestContext): Promise<TestNetwork> {
  // Closed in the reverse order of opening — clients, servers, nodes — and only then the folder
  // removed: t.after() hooks run in the order they were added, and a folder removed while a server
  // still commits a chunk from a cut upload fails with ENOTEMPTY (seen once the sender's crypto
  // pool stopped waiting for its workers to exit).
  const dir = await mkdtemp(join(tmpdir(), 'p2pfx-test-'));
  const closers: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  const ca = await createCa();
  return {
    dir, ca,
    async add(name, opts = {}) {
      const home = await makeHome(join(dir, name), ca, { name });
      // Files sent to it, and downloads with no folder given, land in HOME/received (never ~/Downloads).
      const node = await LocalNode.open(home, { downloads: home.receivedDir });
      closers.push(async () => node.close());
      let server: RunningNode | null = null;
      if (opts.serve !== false) {
        server = await startNode(node, { host: opts.host ?? '127.0.0.1', port: 0, ...(opts.inbox ? { inbox: {} } : {}) });
        closers.push(() => server!.close());
      }
      const self: TestNode = {
        node, home, server,
        address: server ? `${server.host}:${server.port}` : '',
        client(to, clientOpts) {
          if (!to.server) throw new Error(`${name} cannot connect to a node that does not serve`);
          const c = new PeerClient({ host: to.server.host, port: to.server.port }, node.creds, clientOpts);
          closers.push(() => c.close());
          return c;
        },
      };
      return self;
    },
  };
}

/** A file of random bytes; returns its path. */
export async function randomFile(dir: string, name: string, size: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, randomBytes(size));
  return path;
}
