// `p2pfx send` and `p2pfx get`.
import { Prompter } from '../prompt.js';
import { fetchTarget } from '../../transfer/fetch.js';
import { resolveTarget } from '../../transfer/catalog.js';
import { checkChunkSize } from '../../transfer/send.js';
import { isFolderSource, sendToPeers, type PeerSend } from '../../transfer/send-to-peers.js';
import { formatRate } from '../../core/format.js';
import { formatBytes, printable } from '../output.js';
import { progressBar } from '../progress-bar.js';
import type { TransferProgress } from '../../transfer/progress.js';
import { P2pfxError } from '../../core/errors.js';
import { ensureGetFolder } from '../../store/downloads.js';
import { outFor, parseCount, parseSize, withInterrupt, withNode, withPeers, type GlobalOptions } from '../context.js';

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
  await isFolderSource(file);
  await withNode(g, (node) => withPeers(node, opts.peer, (clients) => withInterrupt('send', async (signal) => {
    // One bar at a time: a peer's send starts once the previous one has ended.
    // One bar: with several peers (a file goes to all at once), the slowest one's progress.
    const bar = progressBar(showProgress(g), clients.length > 1 ? `send → ${clients.length} peers` : 'send');
    const byPeer = new Map<string, TransferProgress>();
    const runs = await sendToPeers({
      node, clients, path: file, chunkSize, concurrency, password: opts.password, storageOnly: opts.storageOnly === true, signal,
      progressFor: (client) => (p) => {
        byPeer.set(client.label, p);
        let slowest = p;
        for (const q of byPeer.values()) if (q.doneBytes < slowest.doneBytes) slowest = q;
        bar.listener(slowest);
      },
    }).finally(() => bar.stop());
    const summaries: Array<Record<string, unknown>> = [];
    for (const run of runs) {
      const summary = summarize(run, opts);
      summaries.push(summary);
      if (!out.json) for (const line of describe(run, opts)) out.line(line);
    }
    const failures = runs.filter((r) => !r.ok);
    if (failures.length === runs.length) {
      const e = (failures[0] as { error: P2pfxError }).error;
      throw new P2pfxError(e.code, e.message, { hint: e.hint, cause: e });
    }
    if (failures.length > 0) process.exitCode = 1;
    if (out.json) out.data({ ...summaries.find((x) => !('error' in x)), peers: summaries, process: processStats() });
  })));
}

/** One peer's line of `send --json`. */
function summarize(run: PeerSend, opts: SendCommandOptions): Record<string, unknown> {
  const peer = { peer: run.client.label, peerNodeId: run.client.nodeId };
  if (!run.ok) return { ...peer, error: { code: run.error.code, message: run.error.message } };
  const passwordEnvelope = opts.password !== undefined;
  if (run.folder) {
    const r = run.folder;
    return {
      folder: true, fileId: r.folderFileId, name: r.name, files: r.files, dirs: r.dirs, size: r.bytes, chunks: r.chunkCount, sentChunks: r.sentChunks,
      skipped: r.skipped, ...peer, recipient: r.recipient?.nodeId ?? null, seconds: run.seconds, passwordEnvelope,
    };
  }
  const r = run.file;
  return {
    fileId: r.fileId, name: r.name, size: r.size, sha256: r.sha256, chunks: r.chunkCount, sentChunks: r.sentChunks,
    ...peer, recipient: r.recipient?.nodeId ?? null, seconds: run.seconds, passwordEnvelope,
  };
}

/** One peer's lines of `send`. */
function describe(run: PeerSend, opts: SendCommandOptions): string[] {
  const { client } = run;
  if (!run.ok) return [`Not sent to ${client.label}: ${run.error.code}: ${printable(run.error.message)}`];
  if (run.folder) {
    const r = run.folder;
    return [
      `Sent folder ${printable(r.name)}: ${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)} (${r.sentChunks} of ${r.chunkCount} chunks moved) to ${client.label}, node ${client.nodeId ?? '?'}, in ${run.seconds.toFixed(2)} s`,
      `  folder id ${r.folderFileId}`,
      ...r.skipped.map((k) => `  skipped ${printable(k.path)} (${k.type === 'symlink' ? 'symbolic link' : 'special file'})`),
      r.recipient ? `  ${printable(r.recipient.name || client.label)} can open it and rebuilds the folder in its downloads folder` : `  stored on ${client.label}, which holds no key for it (--storage-only)`,
    ];
  }
  const r = run.file;
  const peerName = r.recipient?.name ? printable(r.recipient.name) : client.label;
  return [
    `Sent ${printable(r.name)} (${formatBytes(r.size)}, ${r.chunkCount} chunks) to ${client.label}, node ${client.nodeId ?? '?'}`,
    r.sentChunks === 0
      ? `  nothing to move: ${client.label} already held all ${r.chunkCount} chunks (checked in ${run.seconds.toFixed(2)} s)`
      : `  ${r.sentChunks} chunks moved, ${r.chunkCount - r.sentChunks} already there, in ${run.seconds.toFixed(2)} s (${formatRate(r.size * (r.sentChunks / r.chunkCount), run.seconds)})`,
    `  file id ${r.fileId}`,
    ...(r.sha256 !== null ? [`  sha256  ${r.sha256}`] : []),
    r.recipient ? `  ${peerName} can open it and reassembles it into its downloads folder` : `  stored on ${client.label}, which holds no key for it (--storage-only)`,
    ...(opts.password !== undefined ? ['  any node given the password can download it too'] : []),
  ];
}

export interface GetCommandOptions { peer?: string[]; password?: string; out?: string; concurrency?: string }

export async function getCommand(g: GlobalOptions, ref: string, opts: GetCommandOptions): Promise<void> {
  const out = outFor(g);
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true && !out.json;
  // Into the current folder, as scp and curl -O do (--out wins): checked before any peer is asked.
  const outDir = await ensureGetFolder(opts.out ?? process.cwd(), opts.out !== undefined);
  await withNode(g, (node) => withPeers(node, opts.peer, (clients) => withInterrupt('get', async (signal) => {
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
    // A name its sender used for several versions: the newest, said so (on stderr: stdout stays the result).
    if ((target.olderVersions ?? 0) > 0 && !out.json) {
      out.note(`${printable(ref)}: the newest of ${target.olderVersions! + 1} versions from ${printable(target.senderName ?? '?')}, file ${target.fileId} (${target.createdAt}); get an older one by its id (\`p2pfx files --all\`)`);
    }
    const fetched = await fetchTarget(target, { node, clients, password: opts.password, askPassword, concurrency, signal, onProgress: bar.listener, outDir })
      .finally(() => bar.stop());
    if (fetched.kind === 'folder') {
      const r = fetched.folder;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (out.json) return out.data({ folder: true, ...r, seconds, process: processStats() });
      out.line(`Received folder ${printable(r.name)} (${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)}) in ${seconds.toFixed(2)} s`);
      out.line(`  saved as ${printable(r.path)}`);
      out.line(`  every file checked against the folder index (sha256 ${r.sha256})${r.resumedFiles > 0 ? `; ${r.resumedFiles} files resumed` : ''}`);
      for (const p of r.peerProblems) out.line(`  note: ${p.peer}: ${p.code}: ${printable(p.message)} (its chunks came from another peer)`);
      return;
    }
    const result = fetched.file;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = clients.filter((c) => (result.fromPeers[c.label] ?? 0) > 0);
    const first = used[0] ?? clients[0]!;
    if (out.json) {
      return out.data({ ...result, peer: first.label, peerNodeId: first.nodeId, peers: clients.map((c) => ({ peer: c.label, peerNodeId: c.nodeId, chunks: result.fromPeers[c.label] ?? 0 })), seconds, process: processStats() });
    }
    if (result.alreadyHere) {
      out.line(`Already here: ${printable(result.path)} is file ${result.fileId}, unchanged since it was received; nothing written.`);
      return;
    }
    const from = clients.length === 1 ? `${first.label}, node ${first.nodeId ?? '?'}` : used.map((c) => `${c.label} (node ${c.nodeId ?? '?'}, ${result.fromPeers[c.label]} chunks)`).join(', ') || 'this node\'s own store';
    out.line(`Received ${printable(result.name)} (${formatBytes(result.size)}) from ${from}`);
    out.line(`  saved as ${printable(result.path)}`);
    out.line(`  ${chunkCounts(result)}, in ${seconds.toFixed(2)} s${result.fetchedChunks > 0 ? ` (${formatRate(result.size * (result.fetchedChunks / result.chunkCount), seconds)})` : ''}`);
    out.line(result.sha256 !== null
      ? `  sha256 ${result.sha256} (verified)`
      : `  every chunk verified: its id from the sender's signed manifest, opened at its place; size checked`);
    for (const p of result.peerProblems) out.line(`  note: ${p.peer}: ${p.code}: ${printable(p.message)} (its chunks came from another peer)`);
  })));
}

/** Where a download's chunks came from: fetched, resumed from the partial file, or held here already. */
function chunkCounts(r: { fetchedChunks: number; resumedChunks: number; localChunks: number }): string {
  const parts = [`${r.fetchedChunks} chunks fetched`];
  if (r.resumedChunks > 0) parts.push(`${r.resumedChunks} resumed from the partial file`);
  if (r.localChunks > 0 || r.resumedChunks === 0) parts.push(`${r.localChunks} already held here`);
  return parts.join(', ');
}

/** CPU time and peak memory of this process so far (for benchmarks and the curious). */
function processStats(): { cpuS: number; peakRssMiB: number } {
  const usage = process.resourceUsage();
  return { cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6, peakRssMiB: usage.maxRSS / 1024 };
}

function showProgress(g: GlobalOptions): boolean {
  return !g.json && process.stdout.isTTY === true && process.stderr.isTTY === true;
}

