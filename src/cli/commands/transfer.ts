// `p2pfx send` and `p2pfx get`.
import { Prompter } from '../prompt.js';
import { getFile } from '../../transfer/get.js';
import { sendFile } from '../../transfer/send.js';
import { formatBytes, printable } from '../output.js';
import { progressBar } from '../progress-bar.js';
import { outFor, parseCount, parseSize, withNode, withPeer, type GlobalOptions } from '../context.js';

export interface SendCommandOptions { peer?: string; password?: string; chunkSize?: string; concurrency?: string; storageOnly?: boolean }

export async function sendCommand(g: GlobalOptions, file: string, opts: SendCommandOptions): Promise<void> {
  const out = outFor(g);
  const chunkSize = opts.chunkSize === undefined ? undefined : parseSize(opts.chunkSize);
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  await withNode(g, (node) => withPeer(node, opts.peer, async (client) => {
    const bar = progressBar(showProgress(g), 'send');
    const started = process.hrtime.bigint();
    const result = await sendFile({ node, client, path: file, chunkSize, concurrency, password: opts.password, peerKey: !opts.storageOnly, onProgress: bar.listener }).finally(() => bar.stop());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const summary = {
      fileId: result.fileId, name: result.name, size: result.size, sha256: result.sha256, chunks: result.chunkCount,
      sentChunks: result.sentChunks, peer: client.label, peerNodeId: client.nodeId, recipient: result.recipient?.nodeId ?? null, seconds, passwordEnvelope: opts.password !== undefined,
      process: processStats(),
    };
    if (out.json) return out.data(summary);
    out.line(`Sent ${result.name} (${formatBytes(result.size)}, ${result.chunkCount} chunks) to ${client.label}, node ${client.nodeId ?? '?'}`);
    out.line(`  ${result.sentChunks} chunks moved, ${result.chunkCount - result.sentChunks} already there, in ${seconds.toFixed(2)} s (${(result.size / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`);
    out.line(`  file id ${result.fileId}`);
    out.line(`  sha256  ${result.sha256}`);
    const peerName = result.recipient?.name ? printable(result.recipient.name) : client.label;
    out.line(result.recipient
      ? `  ${peerName} can open it and reassembles it into its received/ folder`
      : `  stored on ${client.label}, which holds no key for it (--storage-only)`);
    if (opts.password !== undefined) out.line('  any node given the password can download it too');
  }));
}

export interface GetCommandOptions { peer?: string; password?: string; out?: string; concurrency?: string }

export async function getCommand(g: GlobalOptions, ref: string, opts: GetCommandOptions): Promise<void> {
  const out = outFor(g);
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true && !out.json;
  await withNode(g, (node) => withPeer(node, opts.peer, async (client) => {
    const bar = progressBar(showProgress(g), 'get');
    const askPassword = interactive ? async () => {
      const prompter = new Prompter(process.stdin, process.stderr);
      try {
        return (await prompter.askSecret(`Password for ${ref}`)) ?? '';
      } finally {
        prompter.close();
      }
    } : undefined;
    const started = process.hrtime.bigint();
    const result = await getFile({ node, client, ref, password: opts.password, askPassword, concurrency, onProgress: bar.listener, ...(opts.out ? { outDir: opts.out } : {}) })
      .finally(() => bar.stop());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (out.json) return out.data({ ...result, peer: client.label, peerNodeId: client.nodeId, seconds, process: processStats() });
    out.line(`Received ${result.name} (${formatBytes(result.size)}) from ${client.label}, node ${client.nodeId ?? '?'}`);
    out.line(`  saved as ${result.path}`);
    out.line(`  ${result.fetchedChunks} chunks fetched, ${result.localChunks} already here, in ${seconds.toFixed(2)} s (${(result.size / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`);
    out.line(`  sha256 ${result.sha256} (verified)`);
  }));
}

/** CPU time and peak memory of this process so far (for benchmarks and the curious). */
function processStats(): { cpuS: number; peakRssMiB: number } {
  const usage = process.resourceUsage();
  return { cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6, peakRssMiB: usage.maxRSS / 1024 };
}

function showProgress(g: GlobalOptions): boolean {
  return !g.json && process.stdout.isTTY === true && process.stderr.isTTY === true;
}
