// A node's home (DESIGN "The user's view"): certs/, chunks/, received/, p2pfx.db.
import { join, resolve } from 'node:path';

export const HOME_ENV = 'P2PFX_HOME';

export class Home {
  readonly root: string;
  readonly certsDir: string;
  readonly chunksDir: string;
  readonly receivedDir: string;
  readonly dbPath: string;
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly nodeCertPath: string;
  readonly nodeKeyPath: string;
  readonly x25519KeyPath: string;
  readonly crlPath: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.certsDir = join(this.root, 'certs');
    this.chunksDir = join(this.root, 'chunks');
    this.receivedDir = join(this.root, 'received');
    this.dbPath = join(this.root, 'p2pfx.db');
    this.caCertPath = join(this.certsDir, 'ca-cert.pem');
    this.caKeyPath = join(this.certsDir, 'ca-key.pem');
    this.nodeCertPath = join(this.certsDir, 'node-cert.pem');
    this.nodeKeyPath = join(this.certsDir, 'node-key.pem');
    this.x25519KeyPath = join(this.certsDir, 'node-x25519-key.pem');
    this.crlPath = join(this.certsDir, 'crl.pem');
  }

  /** --home, then $P2PFX_HOME, then the current directory (as the original did). */
  static resolve(option?: string, env: NodeJS.ProcessEnv = process.env): Home {
    return new Home(option ?? env[HOME_ENV] ?? process.cwd());
  }
}
