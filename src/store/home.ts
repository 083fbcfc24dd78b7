// A node's home (DESIGN "The user's view"): certs/, chunks/, p2pfx.db (and received/, where
// earlier versions put received files: store/downloads.ts); and where it is.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix, resolve, win32 } from 'node:path';

export const HOME_ENV = 'P2PFX_HOME';
/** The folder p2pfx keeps in the user's data folder. */
const APP_FOLDER = 'p2pfx';

/** Where the home in use came from: --home, $P2PFX_HOME, a home in the current folder (the old default), or the per-user default. */
export type HomeSource = 'option' | 'env' | 'legacy-cwd' | 'default';

export interface ResolvedHome { home: Home; source: HomeSource }

/**
 * The per-user default home, from the environment and platform given (pure): $XDG_DATA_HOME/p2pfx
 * (when absolute, as the XDG spec asks) else ~/.local/share/p2pfx on Linux and other Unix;
 * ~/Library/Application Support/p2pfx on macOS; %LOCALAPPDATA%, else %APPDATA%, else
 * ~\AppData\Local, then \p2pfx on Windows.
 */
export function defaultHome(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, home: string): string {
  if (platform === 'win32') {
    const base = nonEmpty(env.LOCALAPPDATA) ?? nonEmpty(env.APPDATA) ?? win32.join(home, 'AppData', 'Local');
    return win32.join(base, APP_FOLDER);
  }
  if (platform === 'darwin') return posix.join(home, 'Library', 'Application Support', APP_FOLDER);
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  return posix.join(xdg !== undefined && posix.isAbsolute(xdg) ? xdg : posix.join(home, '.local', 'share'), APP_FOLDER);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Whether `dir` holds a home made by the old default (certs/ in the current folder): a node certificate or a CA certificate. Only reads. */
export function holdsLegacyHome(dir: string): boolean {
  const certs = new Home(dir);
  return existsSync(certs.nodeCertPath) || existsSync(certs.caCertPath);
}

export class Home {
  readonly root: string;
  readonly certsDir: string;
  readonly chunksDir: string;
  /** Where p2pfx up to 0.1 put every received file; still the downloads folder of a home whose received/ holds files (store/downloads.ts). */
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

  /** Makes the home's folder (and any parent missing) for this user only, mode 0700; one that exists is left as it is. */
  async create(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  /**
   * The one decision of which home a command uses (DESIGN "The user's view"): --home, then
   * $P2PFX_HOME, then the current folder when it holds a home made by the old default, then the
   * per-user default. Only reads: nothing is made until a command writes into the home.
   */
  static resolve(option?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ResolvedHome {
    if (option !== undefined) return { home: new Home(option), source: 'option' };
    const fromEnv = env[HOME_ENV];
    if (fromEnv !== undefined) return { home: new Home(fromEnv), source: 'env' };
    const fallback = new Home(defaultHome(env, process.platform, homedir()));
    // A current folder that is the default home is the default, not a legacy home.
    if (resolve(cwd) !== fallback.root && holdsLegacyHome(cwd)) return { home: new Home(cwd), source: 'legacy-cwd' };
    return { home: fallback, source: 'default' };
  }
}
