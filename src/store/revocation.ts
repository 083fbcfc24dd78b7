// This node's copy of the network CA's revocation list (certs/crl.pem): checked before it is
// taken (signed by the CA, newer than the one held), written atomically, and handed to whoever
// must follow it — the TLS contexts of the node's server and of its clients.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { P2pfxError } from '../core/errors.js';
import { isNewer, isRevoked, type CrlInfo } from '../pki/crl-facts.js';
import type { Credentials } from './credentials.js';
import { writeFileAtomic } from './fs-atomic.js';
import type { Home } from './home.js';
import type { IndexDb } from './index-db.js';

/** How often a running node looks whether certs/crl.pem was replaced by another process. */
const WATCH_INTERVAL_MS = 2000;

export class Revocation {
  private info: CrlInfo | null;
  private readonly listeners = new Set<(info: CrlInfo) => void>();

  private constructor(private readonly home: Home, private readonly creds: Credentials, private readonly db: IndexDb, info: CrlInfo | null) {
    this.info = info;
  }

  /**
   * Throws CRL_INVALID when certs/crl.pem is there but is not a valid CRL of this network. A CRL
   * checked before (same bytes) is not parsed again: its facts come from the index.
   */
  static async load(home: Home, creds: Credentials, db: IndexDb): Promise<Revocation> {
    let info: CrlInfo | null = null;
    if (creds.crlPem !== null) {
      info = cachedFacts(db, creds.crlPem);
      if (info === null) {
        try {
          info = await check(creds.crlPem, creds.caCertPem);
        } catch (err) {
          if (!(err instanceof P2pfxError)) throw err;
          throw new P2pfxError('CRL_INVALID', `${home.crlPath}: ${err.message}`, { hint: 'Delete that file and let the node take the CRL from a peer again, or copy it from the CA machine.', cause: err });
        }
        remember(db, info);
      }
    }
    return new Revocation(home, creds, db, info);
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
    // One at a time: two CRLs taken at once must not let the older one land last.
    const run = this.queue.then(() => this.takeNow(pem));
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private queue: Promise<void> = Promise.resolve();

  private async takeNow(pem: string): Promise<boolean> {
    const info = await check(pem, this.creds.caCertPem);
    if (!isNewer(info, this.info)) return false;
    // Another process on this home (a command beside `serve`) may have written a newer one.
    const onDisk = await this.fileFacts();
    if (onDisk !== null && !isNewer(info, onDisk)) {
      if (isNewer(onDisk, this.info)) this.adopt(onDisk);
      return false;
    }
    await writeFileAtomic(this.home.crlPath, info.pem, 0o644);
    remember(this.db, info);
    this.adopt(info);
    return true;
  }

  /** The CRL in certs/crl.pem now, if it is a valid one. */
  private async fileFacts(): Promise<CrlInfo | null> {
    const pem = await readFile(this.home.crlPath, 'utf8').catch(() => null);
    if (pem === null) return null;
    return cachedFacts(this.db, pem) ?? (await check(pem, this.creds.caCertPem).catch(() => null));
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
        const info = await check(pem, this.creds.caCertPem).catch(() => null);
        if (info !== null && isNewer(info, this.info)) {
          remember(this.db, info);
          this.adopt(info);
        }
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
    for (const fn of this.listeners) {
      try {
        fn(info);
      } catch {
        // one listener's failure must not keep the others from the new CRL
      }
    }
  }
}

/** Parses and checks a CRL; @peculiar/x509 is loaded only here, when a CRL is new to this node. */
async function check(pem: string, caCertPem: string): Promise<CrlInfo> {
  const { readCrl } = await import('../pki/crl.js');
  const info = await readCrl(pem, caCertPem);
  // What TLS will be handed must load in TLS: a CRL that OpenSSL cannot use is refused here,
  // before it is written or passed on, not when every handshake starts failing.
  try {
    createSecureContext({ ca: caCertPem, crl: info.pem });
  } catch (err) {
    throw new P2pfxError('CRL_INVALID', `the CRL does not load in TLS: ${(err as Error).message}`, { cause: err });
  }
  return info;
}

function digest(pem: string): string {
  return createHash('sha256').update(pem).digest('hex');
}

/** Records a CRL just checked (by whoever wrote it into certs/), so later commands need not parse it. */
export function remember(db: IndexDb, info: CrlInfo): void {
  const { pem: _pem, ...facts } = info;
  db.putCrlFacts(digest(info.pem), JSON.stringify({ ...facts, number: facts.number.toString() }));
}

/** The facts of this exact CRL as checked before, if still in force; null otherwise. */
function cachedFacts(db: IndexDb, pem: string): CrlInfo | null {
  const json = db.crlFacts(digest(pem));
  if (json === null) return null;
  const f = JSON.parse(json) as { number: string; thisUpdate: string; nextUpdate: string | null; revokedSerials: string[] };
  const nextUpdate = f.nextUpdate === null ? null : new Date(f.nextUpdate);
  if (nextUpdate !== null && nextUpdate.getTime() <= Date.now()) return null; // checked again, to say why it fails
  return { number: BigInt(f.number), thisUpdate: new Date(f.thisUpdate), nextUpdate, revokedSerials: f.revokedSerials, pem };
}
