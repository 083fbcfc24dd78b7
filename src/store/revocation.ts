// This node's copy of the network CA's revocation list (certs/crl.pem): checked before it is
// taken (signed by the CA, newer than the one held), written atomically, and handed to whoever
// must follow it — the TLS contexts of the node's server and of its clients.
import { readFile, stat } from 'node:fs/promises';
import { P2pfxError } from '../core/errors.js';
import { isNewer, isRevoked, readCrl, type CrlInfo } from '../pki/crl.js';
import type { Credentials } from './credentials.js';
import { writeFileAtomic } from './fs-atomic.js';
import type { Home } from './home.js';

/** How often a running node looks whether certs/crl.pem was replaced by another process. */
const WATCH_INTERVAL_MS = 2000;

export class Revocation {
  private info: CrlInfo | null;
  private readonly listeners = new Set<(info: CrlInfo) => void>();

  private constructor(private readonly home: Home, private readonly creds: Credentials, info: CrlInfo | null) {
    this.info = info;
  }

  /** Throws CRL_INVALID when certs/crl.pem is there but is not a valid CRL of this network. */
  static async load(home: Home, creds: Credentials): Promise<Revocation> {
    let info: CrlInfo | null = null;
    if (creds.crlPem !== null) {
      try {
        info = await readCrl(creds.crlPem, creds.caCertPem);
      } catch (err) {
        if (!(err instanceof P2pfxError)) throw err;
        throw new P2pfxError('CRL_INVALID', `${home.crlPath}: ${err.message}`, { hint: 'Delete that file and let the node take the CRL from a peer again, or copy it from the CA machine.', cause: err });
      }
    }
    return new Revocation(home, creds, info);
  }

  current(): CrlInfo | null {
    return this.info;
  }

  /** The CRL number peers compare (0: no CRL held). */
  get number(): bigint {
    return this.info?.number ?? 0n;
  }

  /** Whether a certificate of this network is on the list held. */
  revokes(certPem: string): boolean {
    return this.info !== null && isRevoked(this.info, certPem);
  }

  /** Whether this node's own certificate is on the list held. */
  get selfRevoked(): boolean {
    return this.revokes(this.creds.certPem);
  }

  /**
   * Takes a CRL from a peer or from the CA command: true if it replaced the one held, false if it
   * is not newer. Throws CRL_INVALID when it is not a valid CRL of this network's CA.
   */
  async take(pem: string): Promise<boolean> {
    const info = await readCrl(pem, this.creds.caCertPem);
    if (!isNewer(info, this.info)) return false;
    await writeFileAtomic(this.home.crlPath, pem, 0o644);
    this.adopt(info);
    return true;
  }

  /** Calls `fn` with each newer CRL taken. */
  onChange(fn: (info: CrlInfo) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Follows certs/crl.pem while a node runs, so `p2pfx certs revoke` (another process) takes
   * effect without a restart. A file that is not a newer valid CRL is left unused.
   */
  watch(): () => void {
    let lastMtime = 0;
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        const st = await stat(this.home.crlPath).catch(() => null);
        if (st === null || st.mtimeMs === lastMtime) return;
        lastMtime = st.mtimeMs;
        const pem = await readFile(this.home.crlPath, 'utf8');
        const info = await readCrl(pem, this.creds.caCertPem).catch(() => null);
        if (info !== null && isNewer(info, this.info)) this.adopt(info);
      })().catch(() => undefined).finally(() => {
        busy = false;
      });
    }, WATCH_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  private adopt(info: CrlInfo): void {
    this.info = info;
    this.creds.crlPem = info.pem;
    for (const fn of this.listeners) fn(info);
  }
}
