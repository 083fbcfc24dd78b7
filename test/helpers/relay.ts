// A real TCP relay between the getter and one holder (127.0.0.1, port 0), for tests of what a
// download does when that holder goes silent or goes away at a moment the test chooses: the
// holder itself keeps running, only its link is held or cut, at once and from the test's side.
import { createServer, connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import type { TestNode } from './network.js';

export interface Relay {
  port: number;
  /** Connections whose holder's bytes were held once past the budget. */
  stalled(): number;
  /** Cuts every connection now, and refuses new ones: the holder is gone as the getter sees it. */
  cut(): void;
}

/**
 * A relay to `to`. With `budget`, each connection passes the holder's first `budget` bytes, then
 * holds the rest (the holder is still there, only silent, its socket open: no error, no close).
 */
export async function relayTo(t: TestContext, to: TestNode, opts: { budget?: number } = {}): Promise<Relay> {
  const budget = opts.budget ?? Infinity;
  const sockets = new Set<Socket>();
  let stalled = 0;
  let cut = false;
  const server = createServer((inbound) => {
    if (cut) {
      inbound.destroy();
      return;
    }
    const outbound = connect(to.server!.port, to.server!.host);
    sockets.add(inbound).add(outbound);
    let passed = 0;
    let held = false;
    inbound.on('data', (d) => outbound.write(d));
    outbound.on('data', (d: Buffer) => {
      if (held) return;
      if (passed + d.length > budget) {
        held = true;
        stalled++;
        return;
      }
      passed += d.length;
      inbound.write(d);
    });
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const stop = () => {
    cut = true;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (server.listening) server.close();
  };
  t.after(async () => {
    stop();
    await closed;
  });
  return { port: (server.address() as { port: number }).port, stalled: () => stalled, cut: stop };
}
