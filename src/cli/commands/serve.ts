import { startNode } from '../../net/run-node.js';
import { outFor, parsePort, withNode, type GlobalOptions } from '../context.js';

export interface ServeOptions { port: string; host: string }

/** Runs the node until SIGINT or SIGTERM. */
export async function serveCommand(g: GlobalOptions, opts: ServeOptions): Promise<void> {
  const out = outFor(g);
  await withNode(g, async (node) => {
    const running = await startNode(node, { host: opts.host, port: parsePort(opts.port), logger: g.debug ? { level: 'info' } : false });
    if (out.json) out.data({ listening: running.url, host: running.host, port: running.port, nodeId: node.creds.nodeId, name: node.creds.name, home: node.home.root });
    else {
      out.line(`p2pfx node ${node.creds.name} listening on ${running.url}`);
      out.line(`node id ${node.creds.nodeId}`);
      out.line(`home ${node.home.root} — Ctrl-C to stop`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await running.close();
    if (!out.json) out.note('stopped');
  });
}
