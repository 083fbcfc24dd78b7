// The guided menu, as the original's: ask for this node's port, the peer (offered from the peer
// book when it holds any: menu-peer.ts) and a password, then 1 send, 2 download, 3 list local
// chunks, 4 list the peer's chunks, 5 quit — and after those, so that the original's numbers
// keep their meaning, 6 show this node's id and 7 invite a machine (on the CA's machine). It runs
// the same functions as the commands; only the questions are its own.
import { homedir } from 'node:os';
import { holdsCa } from '../store/ca-home.js';
import { getFolder } from '../transfer/folder.js';
import { toP2pfxError } from '../core/errors.js';
import { shortNodeId } from '../pki/node-id.js';
import type { InboxEvent } from '../transfer/inbox.js';
import { DEFAULT_PORT } from '../core/limits.js';
import type { PeerClient } from '../net/client.js';
import { clientFor } from '../net/peers.js';
import { InviteDesk } from '../node/invite-desk.js';
import { formatPeer } from '../net/peer-address.js';
import { lanAddress } from '../net/host-info.js';
import { startNode, type RunningNode } from '../node/run-node.js';
import { listCatalog, newestVersions } from '../transfer/catalog.js';
import { getFile } from '../transfer/get.js';
import { sendToPeers } from '../transfer/send-to-peers.js';
import type { LocalNode } from '../store/local-node.js';
import { parsePort, withNode, type GlobalOptions } from './context.js';
import { formatBytes, printable } from './output.js';
import { askUntil, Prompter } from './prompt.js';
import { askPeer } from './menu-peer.js';
import { progressBar } from './progress-bar.js';
import { typedPath } from './typed-path.js';
import { ensureDownloads, ensureGetFolder, legacyDownloadsNote } from '../store/downloads.js';

const CHOICES = [
  '1. Send a file to the peer',
  '2. Download a file from the peer',
  '3. List local chunks',
  '4. List the peer\'s chunks',
  '5. Quit',
  '6. Show this node\'s id',
];
const INVITE_CHOICE = '7. Invite a new machine into the network (one-time code)';

export async function menuCommand(g: GlobalOptions, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const say = (text = '') => void output.write(`${printable(text)}\n`);
  await withNode(g, async (node) => {
    const ask = new Prompter(input, output);
    let server: RunningNode | null = null;
    let client: PeerClient | null = null;
    let session: Session | null = null;
    try {
      say(`p2pfx — node ${node.creds.name}, id ${node.creds.nodeId}`);
      const port = await askUntil(ask, say, 'Port for this node\'s server', parsePort, String(DEFAULT_PORT));
      if (port === null) return;
      try {
        const onEvent = (e: InboxEvent) => say(e.type === 'received'
          ? `Received ${e.name} (${formatBytes(e.size)}) from ${e.senderName || shortNodeId(e.sender)}, saved as ${e.path}`
          : `Could not reassemble file ${e.fileId} from ${e.senderName || shortNodeId(e.sender)}: ${e.code}: ${e.message}`);
        await ensureDownloads(node.downloads);
        server = await startNode(node, { host: '0.0.0.0', port, inbox: { onEvent }, greet: {} });
        say(`Serving on port ${server.port}.`);
        say(`Files sent to this node go to ${node.downloadsDir}.`);
        if (node.downloads.source === 'legacy') say(legacyDownloadsNote(node.downloadsDir));
      } catch (err) {
        const e = toP2pfxError(err);
        say(`Not serving: ${e.code}: ${e.message} (sending and downloading still work).`);
      }
      const peer = await askPeer(node, ask, say);
      if (peer === null) return;
      client = clientFor(node, peer);
      const password = await ask.askSecret('Password for files (Enter for none: only nodes holding a key can open them)');
      session = { node, client, password: password ? password : undefined, ask, say, isCa: await holdsCa(node.home), closers: [], desk: null };
      for (;;) {
        say();
        CHOICES.forEach((c) => say(c));
        if (session.isCa) say(INVITE_CHOICE);
        const choice = await ask.ask('Choice');
        if (choice === null || choice === '5') break;
        await runChoice(session, choice);
      }
      say('Bye.');
    } finally {
      ask.close();
      await session?.desk?.close().catch(() => undefined);
      for (const close of session?.closers ?? []) await close().catch(() => undefined);
      await client?.close();
      await server?.close();
    }
  });
}

interface Session {
  node: LocalNode;
  client: PeerClient;
  password: string | undefined;
  ask: Prompter;
  say: (text?: string) => void;
  /** This machine holds the CA key: it can invite. */
  isCa: boolean;
  /** What the menu leaves open (an enrollment listener), closed on quit. */
  closers: Array<() => Promise<void>>;
  /** Invites made from the menu and their enrollment listener (open while one is pending). */
  desk: InviteDesk | null;
}

async function runChoice(s: Session, choice: string): Promise<void> {
  try {
    switch (choice) {
      case '1': return await sendChoice(s);
      case '2': return await getChoice(s);
      case '3': return await listChunks(s, 'this node', await s.node.store.list('', 1000));
      case '4': return await listChunks(s, `${s.client.label}`, (await s.client.listChunks('', 1000)).chunks);
      case '6': return showId(s);
      case '7': return s.isCa ? await inviteChoice(s) : unknownChoice(s, choice);
      default: return unknownChoice(s, choice);
    }
  } catch (err) {
    const e = toP2pfxError(err);
    s.say(`error ${e.code}: ${e.message}`);
    s.say(`  hint: ${e.hint}`);
  }
}

function unknownChoice(s: Session, choice: string): void {
  s.say(`Unknown choice ${JSON.stringify(choice)}: type a number from 1 to ${s.isCa ? 7 : 6}.`);
}

/**
 * An invite from the menu: the code is shown, and the enrollment listener stays open in the
 * background while the menu runs (until the code is used or expires); quitting closes it.
 */
async function inviteChoice(s: Session): Promise<void> {
  s.desk ??= new InviteDesk(s.node.home, (e) => s.say(`\n${e.name} joined the network, node id ${e.nodeId}. Compare it with what \`p2pfx join\` printed there.`));
  const invite = await s.desk.invite();
  s.say(`Invite code: ${invite.code}`);
  s.say('On the new machine, run:');
  s.say(`  p2pfx join ${formatPeer({ host: lanAddress(), port: invite.port })} ${invite.code}`);
  s.say(`The code works once, until ${invite.expiresAt.toLocaleTimeString()}, while this menu runs.`);
}

async function sendChoice(s: Session): Promise<void> {
  const typed = await s.ask.ask('Path of the file (or folder) to send');
  const path = typed === null ? '' : typedPath(typed, homedir());
  if (!path) return;
  const bar = progressBar(process.stderr.isTTY === true, 'send');
  const [run] = await sendToPeers({ node: s.node, clients: [s.client], path, password: s.password, progressFor: () => bar.listener }).finally(() => bar.stop());
  if (!run?.ok) return; // one peer: a failure was thrown
  if (run.folder) {
    const f = run.folder;
    s.say(`Sent folder ${f.name} (${f.files} files, ${f.dirs} folders, ${formatBytes(f.bytes)}, ${f.sentChunks} chunks moved) to ${s.client.label}, node ${s.client.nodeId ?? '?'}.`);
    s.say(`Folder id ${f.folderFileId}`);
    return;
  }
  const r = run.file;
  s.say(`Sent ${r.name} (${formatBytes(r.size)}, ${r.chunkCount} chunks, ${r.sentChunks} moved) to ${s.client.label}, node ${s.client.nodeId ?? '?'}.`);
  s.say(`File id ${r.fileId}`);
}

async function getChoice(s: Session): Promise<void> {
  // One row per name and sender: its newest version (as `files` and the web UI list them).
  const files = newestVersions((await listCatalog(s.client, s.node.creds, s.password)).filter((f) => f.inFolder !== true));
  if (files.length === 0) return s.say(`The catalog of ${s.client.label} is empty.`);
  s.say(`Files on ${s.client.label}:`);
  files.forEach((f, i) => s.say(`  ${i + 1}. ${f.name === null ? `(name hidden) ${f.fileId}` : `${f.name}${f.kind === 'folder' ? '/' : ''}`}  ${formatBytes(f.size)}`));
  const pick = await s.ask.ask('Which file (number, name or id)');
  if (!pick) return;
  const n = Number(pick);
  const picked = Number.isInteger(n) && n >= 1 && n <= files.length ? files[n - 1]! : files.find((f) => f.fileId === pick || f.name === pick);
  const ref = picked?.fileId ?? pick;
  // Into the current folder, as `p2pfx get` (DESIGN "Where files land").
  const outDir = await ensureGetFolder(process.cwd(), false);
  if (picked?.kind === 'folder') {
    const bar = progressBar(process.stderr.isTTY === true, 'get');
    const r = await getFolder({ node: s.node, client: s.client, folderFileId: picked.fileId, password: s.password, onProgress: bar.listener, outDir }).finally(() => bar.stop());
    s.say(`Received folder ${r.name} (${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)}), every file verified, saved as ${r.path}`);
    return;
  }
  const bar = progressBar(process.stderr.isTTY === true, 'get');
  const askPassword = async () => (await s.ask.askSecret('Password for this file')) ?? '';
  const r = await getFile({ node: s.node, client: s.client, ref, password: s.password, askPassword, onProgress: bar.listener, outDir }).finally(() => bar.stop());
  s.say(`Received ${r.name} (${formatBytes(r.size)}), SHA-256 verified, saved as ${r.path}`);
}

function showId(s: Session): void {
  s.say(`This node: ${s.node.creds.name}`);
  s.say(`Node id:   ${s.node.creds.nodeId}`);
  s.say('Read it to the other side to compare: every command that talks to a peer shows the peer\'s id.');
}

async function listChunks(s: Session, where: string, chunks: Array<{ id: string; size: number }>): Promise<void> {
  if (chunks.length === 0) return s.say(`No chunks on ${where}.`);
  s.say(`${chunks.length} chunk${chunks.length === 1 ? '' : 's'} on ${where}:`);
  for (const c of chunks) s.say(`  ${c.id}  ${formatBytes(c.size)}`);
}
