// Opening a listener (the node API of node/run-node.ts, the enrollment listener of enroll.ts) with
// failures the user can act on.
import type { AddressInfo } from 'node:net';
import { P2pfxError } from '../core/errors.js';

/** What listenOrExplain needs of a Fastify instance, whatever server (http, https) it runs on. */
export interface Listenable {
  listen(opts: { host: string; port: number }): Promise<string>;
  close(): PromiseLike<unknown>;
  readonly server: { address(): AddressInfo | string | null };
}

/**
 * Listens on host:port and returns the port bound (the one the system chose for port 0). On
 * failure closes the app and throws PORT_IN_USE (EADDRINUSE; its hint names `flag`, the option that
 * sets the port) or INVALID_ARGUMENT (EADDRNOTAVAIL,
 * EACCES), or the error as it is.
 */
export async function listenOrExplain(app: Listenable, host: string, port: number, flag = '--port'): Promise<number> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new P2pfxError('PORT_IN_USE', `port ${port} on ${host} is already in use`, {
        cause: err, hint: `Another program (maybe another p2pfx) uses that port; stop it, or pick another with ${flag} (or leave ${flag} out where any free port will do).`,
      });
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') throw new P2pfxError('INVALID_ARGUMENT', `cannot listen on ${host}:${port} (${code})`, { cause: err });
    throw err;
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}
