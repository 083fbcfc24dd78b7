// `p2pfx send` and `p2pfx get`.
import { Prompter } from '../prompt.js';
import { getFile } from '../../transfer/get.js';
import { checkChunkSize, sendFile } from '../../transfer/send.js';
import { getFolder, sendFolder } from '../../transfer/folder.js';
import { listCatalogAcross, resolveFileRefAcross } from '../../transfer/catalog.js';
import type { PeerClient } from '../../net/client.js';
import type { Credentials } from '../../store/credentials.js';
import { stat } from 'node:fs/promises';
import { resolveSourceFile } from '../../transfer/local-file.js';
import { formatBytes, printable } from '../output.js';
import { progressBar } from '../progress-bar.js';
import { failsEveryPeer, P2pfxError, isErrorCode, toP2pfxError } from '../../core/errors.js';
import { outFor, parseCount, parseSize, withNode, withPeers, type GlobalOptions } from '../context.js';

export interface SendCommandOptions { peer?: string[]; all?: boolean; password?: string; chunkSize?: string; concurrency?: string; storageOnly?: boolean }

/**
 * Sends to every peer named (or, without --peer, to every peer in the book). One manifest names
 * every recipient, so each can open the file; the chunks go to each peer that lacks them. A peer
 * that cannot be reached is reported and the others still get the file; the exit code says so.
 */
export async function sendCommand(g: GlobalOptions, file: string, opts: SendCommandOptions): Promise<void> {
  const out = outFor(g);
  const chunkSize = opts.chunkSize === undefined ? undefined : parseSize(opts.chunkSize);
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  // What is wrong here is said before any peer is contacted.
  if (opts.all && opts.peer?.length) throw new P2pfxError('INVALID_ARGUMENT', '--all sends to every peer in the book: give it without --peer');
  if (chunkSize !== undefined) checkChunkSize(chunkSize);
  const isFolder = await stat(file).then((st) => st.isDirectory(), () => false);
  if (!isFolder) await resolveSourceFile(file);
  await withNode(g, (node) => withPeers(node, opts.peer, async (clients) => {
    // Every recipient is known before the first byte leaves, so one manifest can name them all.
    const asked = opts.storageOnly ? clients.map(() => null) : await Promise.allSettled(clients.map((c) => c.recipient()));
    const recipients = asked.flatMap((r) => (r !== null && r.status === 'fulfilled' ? [r.value] : []));
    const runs: Array<Record<string, unknown>> = [];
    let first: Record<string, unknown> | null = null;
    let failures = 0;
    for (const [i, client] of clients.entries()) {
      const ask = asked[i];
      try {
        if (ask && ask.status === 'rejected') throw ask.reason;
        const bar = progressBar(showProgress(g), clients.length > 1 ? `send → ${client.label}` : 'send');
        const started = process.hrtime.bigint();
        if (isFolder) {
          const r = await sendFolder({
            node, client, dir: file, chunkSize, concurrency, password: opts.password, peerKey: !opts.storageOnly,
            recipients: recipients.filter((x) => x.nodeId !== client.nodeId), onProgress: bar.listener,
          }).finally(() => bar.stop());
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const summary = {
            folder: true, fileId: r.folderFileId, name: r.name, files: r.files, dirs: r.dirs, size: r.bytes, chunks: r.chunkCount, sentChunks: r.sentChunks,
            skipped: r.skipped, peer: client.label, peerNodeId: client.nodeId, recipient: r.recipient?.nodeId ?? null, seconds, passwordEnvelope: opts.password !== undefined,
          };
          first ??= summary;
          runs.push(summary);
          if (out.json) continue;
          out.line(`Sent folder ${printable(r.name)}: ${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)} (${r.sentChunks} of ${r.chunkCount} chunks moved) to ${client.label}, node ${client.nodeId ?? '?'}, in ${seconds.toFixed(2)} s`);
          out.line(`  folder id ${r.folderFileId}`);
          for (const k of r.skipped) out.line(`  skipped ${printable(k.path)} (${k.type === 'symlink' ? 'symbolic link' : 'special file'})`);
          out.line(r.recipient ? `  ${printable(r.recipient.name || client.label)} can open it and rebuilds the folder in its received/ folder` : `  stored on ${client.label}, which holds no key for it (--storage-only)`);
          continue;
        }
        const result = await sendFile({
          node, client, path: file, chunkSize, concurrency, password: opts.password, peerKey: !opts.storageOnly,
          recipients: recipients.filter((r) => r.nodeId !== client.nodeId), onProgress: bar.listener,
        }).finally(() => bar.stop());
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const summary = {
          fileId: result.fileId, name: result.name, size: result.size, sha256: result.sha256, chunks: result.chunkCount,
          sentChunks: result.sentChunks, peer: client.label, peerNodeId: client.nodeId, recipient: result.recipient?.nodeId ?? null, seconds,
          passwordEnvelope: opts.password !== undefined,
        };
        first ??= summary;
        runs.push(summary);
        if (out.json) continue;
        out.line(`Sent ${printable(result.name)} (${formatBytes(result.size)}, ${result.chunkCount} chunks) to ${client.label}, node ${client.nodeId ?? '?'}`);
        out.line(`  ${result.sentChunks} chunks moved, ${result.chunkCount - result.sentChunks} already there, in ${seconds.toFixed(2)} s (${(result.size / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`);
        out.line(`  file id ${result.fileId}`);
        if (result.sha256 !== null) out.line(`  sha256  ${result.sha256}`);
        const peerName = result.recipient?.name ? printable(result.recipient.name) : client.label;
        out.line(result.recipient
          ? `  ${peerName} can open it and reassembles it into its received/ folder`
          : `  stored on ${client.label}, which holds no key for it (--storage-only)`);
        if (opts.password !== undefined) out.line('  any node given the password can download it too');
      } catch (err) {
        const e = toP2pfxError(err);
        // A problem of the command or of this machine is the same for every peer: stop at once.
        if (clients.length === 1 || failsEveryPeer(e)) throw err;
        failures++;
        runs.push({ peer: client.label, peerNodeId: client.nodeId, error: { code: e.code, message: e.message } });
        if (!out.json) out.line(`Not sent to ${client.label}: ${e.code}: ${printable(e.message)}`);
      }
    }
    if (failures === clients.length) {
      const e = runs[0]!.error as { code: string; message: string };
      throw new P2pfxError(isErrorCode(e.code) ? e.code : 'PEER_ERROR', e.message);
    }
    if (failures > 0) process.exitCode = 1;
    if (out.json) out.data({ ...first, peers: runs, process: processStats() });
  }));
}

export interface GetCommandOptions { peer?: string[]; password?: string; out?: string; concurrency?: string }

export async function getCommand(g: GlobalOptions, ref: string, opts: GetCommandOptions): Promise<void> {
  const out = outFor(g);
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true && !out.json;
  await withNode(g, (node) => withPeers(node, opts.peer, async (clients) => {
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
    const target = await resolveTarget(clients, node.creds, ref, opts.password);
    if (target.kind === 'folder') {
      const r = await getFolder({ node, clients, folderFileId: target.fileId, password: opts.password, askPassword, concurrency, onProgress: bar.listener, ...(opts.out ? { outDir: opts.out } : {}) })
        .finally(() => bar.stop());
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (out.json) return out.data({ folder: true, ...r, seconds, process: processStats() });
      out.line(`Received folder ${printable(r.name)} (${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)}) in ${seconds.toFixed(2)} s`);
      out.line(`  saved as ${printable(r.path)}`);
      out.line(`  every file checked against the folder index (sha256 ${r.sha256})${r.resumedFiles > 0 ? `; ${r.resumedFiles} files resumed` : ''}`);
      for (const p of r.peerProblems) out.line(`  note: ${p.peer}: ${p.code}: ${printable(p.message)} (its chunks came from another peer)`);
      return;
    }
    const result = await getFile({ node, clients, ref, password: opts.password, askPassword, concurrency, onProgress: bar.listener, ...(opts.out ? { outDir: opts.out } : {}) })
      .finally(() => bar.stop());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = clients.filter((c) => (result.fromPeers[c.label] ?? 0) > 0);
    const first = used[0] ?? clients[0]!;
    if (out.json) {
      return out.data({ ...result, peer: first.label, peerNodeId: first.nodeId, peers: clients.map((c) => ({ peer: c.label, peerNodeId: c.nodeId, chunks: result.fromPeers[c.label] ?? 0 })), seconds, process: processStats() });
    }
    const from = clients.length === 1 ? `${first.label}, node ${first.nodeId ?? '?'}` : used.map((c) => `${c.label} (node ${c.nodeId ?? '?'}, ${result.fromPeers[c.label]} chunks)`).join(', ') || 'this node\'s own store';
    out.line(`Received ${printable(result.name)} (${formatBytes(result.size)}) from ${from}`);
    out.line(`  saved as ${printable(result.path)}`);
    out.line(`  ${result.fetchedChunks} chunks fetched, ${result.localChunks} already here, in ${seconds.toFixed(2)} s (${(result.size / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`);
    out.line(result.sha256 !== null
      ? `  sha256 ${result.sha256} (verified)`
      : `  every chunk verified: its id from the sender's signed manifest, opened at its place; size checked`);
    for (const p of result.peerProblems) out.line(`  note: ${p.peer}: ${p.code}: ${printable(p.message)} (its chunks came from another peer)`);
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

/** The file id a ref names, and whether it is a folder (its index) or a file. */
async function resolveTarget(clients: PeerClient[], creds: Credentials, ref: string, password?: string): Promise<{ fileId: string; kind: 'file' | 'folder' }> {
  const fileId = await resolveFileRefAcross(clients, creds, ref, password);
  const { files, unreachable } = await listCatalogAcross(clients, creds, password);
  // No peer answered: say so now rather than wait for each of them again.
  if (unreachable.length === clients.length) {
    const e = unreachable[0]!;
    throw new P2pfxError(isErrorCode(e.code) ? e.code : 'PEER_ERROR', e.message);
  }
  return { fileId, kind: files.find((f) => f.fileId === fileId)?.kind === 'folder' ? 'folder' : 'file' };
}
