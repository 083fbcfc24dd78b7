// `p2pfx invite` (on the CA's machine: a one-time code, and an enrollment listener while it is
// open) and `p2pfx join HOST[:PORT] CODE` (on a new machine: its own key, a certificate from the
// CA). The CA key never leaves its machine (DESIGN "Trust", enrollment).
import { P2pfxError, toP2pfxError } from '../../core/errors.js';
import { DEFAULT_PORT } from '../../core/limits.js';
import { createInvite, startEnrollmentServer, withdrawInvite, type JoinedEvent } from '../../net/enroll.js';
import { ENROLL_PORT } from '../../net/protocol/enrollment.js';
import { joinNetwork } from '../../net/join.js';
import { formatPeer, parsePeer } from '../../net/peer-address.js';
import { confirmPeer, sayHello } from '../../net/peers.js';
import { parseInviteCode } from '../../pki/invite-code.js';
import { loadCredentials } from '../../store/credentials.js';
import { InviteBook } from '../../store/invite-book.js';
import { homeFor, outFor, parsePort, withNode, type GlobalOptions } from '../context.js';
import { printable } from '../output.js';
import { defaultNodeName, lanAddress, localAddresses, unique } from '../../net/host-info.js';

const DEFAULT_EXPIRES = '10m';
const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 24 * 60 * 60 * 1000;
/** Invites whose time ended longer ago than this are forgotten when a new one is made. */
const KEEP_ENDED_INVITES_MS = 30 * 24 * 60 * 60 * 1000;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

export interface InviteOptions { expires?: string; port?: string; host?: string }

/**
 * Makes an invite, listens for it, and returns once it was used. Throws INVITE_EXPIRED when its
 * time runs out unused; Ctrl-C (or SIGTERM) withdraws it and returns.
 */
export async function inviteCommand(g: GlobalOptions, opts: InviteOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  const ttlMs = parseDuration(opts.expires ?? DEFAULT_EXPIRES);
  const listenHost = opts.host ?? '0.0.0.0';
  const port = opts.port === undefined ? ENROLL_PORT : parsePort(opts.port);

  let onJoin: (e: JoinedEvent) => void = () => undefined;
  // Started before the invite is made: a home that cannot invite, or a taken port, leaves no invite behind.
  const server = await startEnrollmentServer({ home, host: listenHost, port, logger: g.debug ? { level: 'info' } : false, onJoin: (e) => onJoin(e) });
  try {
    const creds = await loadCredentials(home);
    pruneOldInvites(home.dbPath);
    const invite = await createInvite({ home, ttlMs });
    const shownHost = WILDCARD_HOSTS.has(listenHost) ? lanAddress() : listenHost;
    const joinLine = `p2pfx join ${formatPeer({ host: shownHost, port: server.port })} ${invite.code}`;
    if (out.json) {
      out.data({
        inviteId: invite.id, code: invite.code, expiresAt: invite.expiresAt.toISOString(), host: shownHost, port: server.port,
        listening: { host: listenHost, port: server.port }, join: joinLine, caNodeId: creds.nodeId, name: creds.name,
      });
    } else {
      out.line(`Invite code: ${invite.code}`);
      out.line('On the new machine, run:');
      out.line(`  ${joinLine}`);
      out.line(`The code works once, until ${clockTime(invite.expiresAt)} (${describeDuration(ttlMs)}). It is shown only here.`);
      out.line(`This CA node: ${creds.name}, id ${creds.nodeId}`);
      out.line('Waiting for the new machine to join — Ctrl-C to withdraw the invite.');
    }

    const outcome = await new Promise<JoinedEvent | 'expired' | 'cancelled'>((resolve) => {
      const timer = setTimeout(() => done('expired'), Math.max(0, invite.expiresAt.getTime() - Date.now()));
      const cancel = () => done('cancelled');
      function done(result: JoinedEvent | 'expired' | 'cancelled'): void {
        clearTimeout(timer);
        process.off('SIGINT', cancel);
        process.off('SIGTERM', cancel);
        process.off('SIGHUP', cancel);
        onJoin = () => undefined;
        resolve(result);
      }
      onJoin = (e) => {
        if (e.inviteId === invite.id) done(e);
      };
      process.once('SIGINT', cancel);
      process.once('SIGTERM', cancel);
      process.once('SIGHUP', cancel); // the terminal went away: the invite must not stay open
    });

    if (outcome === 'expired') {
      throw new P2pfxError('INVITE_EXPIRED', `the invite expired at ${clockTime(invite.expiresAt)} without being used; the enrollment listener is closed`);
    }
    if (outcome === 'cancelled') {
      withdrawInvite(home, invite.id);
      if (out.json) out.data({ inviteId: invite.id, withdrawn: true });
      else out.note('Cancelled: the invite is withdrawn (its code no longer works) and the listener is closed.');
      return;
    }
    if (out.json) out.data({ inviteId: invite.id, joined: { name: outcome.name, nodeId: outcome.nodeId, ips: outcome.ips } });
    else {
      out.line(`Joined: ${outcome.name}, node id ${outcome.nodeId}`);
      out.line('Compare that id with what `p2pfx join` printed on the new machine.');
    }
  } finally {
    await server.close();
  }
}

export interface JoinCommandOptions { name?: string; ip?: string[]; force?: boolean }

/** Joins the network of the CA at HOST[:PORT] (port ENROLL_PORT by default) with an invite code. */
export async function joinCommand(g: GlobalOptions, hostPort: string, code: string, opts: JoinCommandOptions): Promise<void> {
  const home = homeFor(g);
  const out = outFor(g);
  parseInviteCode(code); // a typo is reported before anything else happens
  const peer = parsePeer(hostPort, ENROLL_PORT);
  const name = opts.name ?? defaultNodeName();
  if (!out.json) out.note(`Joining through ${formatPeer(peer)}…`);
  const r = await joinNetwork({ home, host: peer.host, port: peer.port, code, name, ips: unique([...localAddresses(), ...(opts.ip ?? [])]), force: opts.force === true });
  // The CA node enters this node's peer book, checked by a handshake with the certificate just
  // received, where its listener said its API serves (else the default port); then this node
  // says hello, and enters the CA node's book at the port `serve` will listen on by default.
  const caAddress = { host: peer.host, port: r.caPort ?? DEFAULT_PORT };
  const met = await withNode(g, async (node) => {
    const caPeer = await confirmPeer(node, caAddress, { expectNodeId: r.caNodeId, source: 'added', timeoutMs: CA_CHECK_TIMEOUT_MS });
    const hello = await sayHello(node, { address: caAddress, nodeId: r.caNodeId, name: caPeer.name }, DEFAULT_PORT, { connectTimeoutMs: CA_CHECK_TIMEOUT_MS, idleTimeoutMs: CA_CHECK_TIMEOUT_MS })
      .then((reply) => ({ ok: true as const, address: formatPeer(reply) }), (err: unknown) => ({ ok: false as const, error: toP2pfxError(err) }));
    return { caPeer, hello };
  }).then((m) => ({ ok: true as const, ...m }), (err: unknown) => ({ ok: false as const, error: toP2pfxError(err) }));
  if (out.json) {
    out.data({
      home: home.root, name: r.name, nodeId: r.nodeId, caNodeId: r.caNodeId, files: r.files,
      caPeer: met.ok ? { nodeId: met.caPeer.nodeId, name: met.caPeer.name, address: formatPeer(caAddress) } : null,
      inCaBook: met.ok && met.hello.ok ? { address: met.hello.address } : null,
    });
    return;
  }
  out.line(`Joined the network as ${r.name}, node id ${r.nodeId}`);
  out.line(`CA node: ${r.caNodeId} (the id \`p2pfx id\` prints on the CA's machine)`);
  out.line(`Wrote ${r.files.join(', ')} (the key, mode 0600, was made here and never sent)`);
  if (!met.ok) {
    out.line(`The CA node does not answer at ${formatPeer(caAddress)} now (${met.error.code}); once it serves, \`p2pfx peers add ${formatPeer({ host: peer.host, port: DEFAULT_PORT })}\` (its port if not ${DEFAULT_PORT}) puts it in the peer book, or LAN discovery will; \`p2pfx serve\` here then tells it where this node serves.`);
  } else {
    out.line(`The CA node ${printable(met.caPeer.name)} (${formatPeer(caAddress)}) is in this node's peer book, checked by handshake.`);
    out.line(met.hello.ok
      ? `This node is in the CA node's peer book, at ${met.hello.address} (where \`p2pfx serve\` listens by default; \`serve --port\` tells it another port when it starts).`
      : `The CA node did not take this node into its peer book now (${met.hello.error.code}); \`p2pfx serve\` here tells it where this node serves when it starts.`);
  }
  out.line('Next: run `p2pfx serve` here.');
}

/** How long `join` waits for the CA node's API when it adds it to the peer book. */
const CA_CHECK_TIMEOUT_MS = 3000;

/** 90s, 10m, 1h, or a bare number of minutes. Throws INVALID_ARGUMENT outside 1 s .. 24 h. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|min|h)?$/i.exec(text.trim());
  const unitMs = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }[(m?.[2] ?? 'm').toLowerCase() as 's' | 'm' | 'min' | 'h'];
  const ms = m ? Number(m[1]) * unitMs : NaN;
  if (!Number.isSafeInteger(ms) || ms < MIN_TTL_MS || ms > MAX_TTL_MS) {
    throw new P2pfxError('INVALID_ARGUMENT', `--expires must be a duration from 1s to 24h (examples: 90s, 10m, 1h), got ${JSON.stringify(text)}`);
  }
  return ms;
}

function pruneOldInvites(dbPath: string): void {
  const book = new InviteBook(dbPath);
  try {
    book.prune(new Date(Date.now() - KEEP_ENDED_INVITES_MS));
  } finally {
    book.close();
  }
}

function describeDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour${ms === 3_600_000 ? '' : 's'}`;
  if (ms % 60_000 === 0) return `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}`;
  const s = Math.round(ms / 1000);
  return `${s} second${s === 1 ? '' : 's'}`;
}

/** Local HH:MM:SS: the person at the CA's machine reads it off their own clock. */
function clockTime(d: Date): string {
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The address a machine on the LAN would dial: the first non-loopback IPv4, else IPv6, else the host name. */
