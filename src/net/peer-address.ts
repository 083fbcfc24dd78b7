import { isIP } from 'node:net';
import { P2pfxError } from '../core/errors.js';
import { DEFAULT_PORT } from '../core/limits.js';

export interface PeerAddress { host: string; port: number }

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Parses HOST, HOST:PORT, [V6] or [V6]:PORT. Throws INVALID_PEER. */
export function parsePeer(text: string, defaultPort = DEFAULT_PORT): PeerAddress {
  return parsePeerText(text, defaultPort).address;
}

/** parsePeer, telling too whether the text named the port (the menu asks for it otherwise). */
export function parsePeerText(text: string, defaultPort = DEFAULT_PORT): { address: PeerAddress; portGiven: boolean } {
  const input = text.trim();
  let host = input;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(input);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else if (isIP(input) !== 6) {
    const at = input.lastIndexOf(':');
    if (at >= 0) {
      host = input.slice(0, at);
      portText = input.slice(at + 1);
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || (portText !== undefined && !/^\d+$/.test(portText))) {
    throw new P2pfxError('INVALID_PEER', `bad port in peer ${JSON.stringify(text)}`);
  }
  if (!(isIP(host) || HOSTNAME_RE.test(host))) throw new P2pfxError('INVALID_PEER', `bad host in peer ${JSON.stringify(text)}`);
  return { address: { host, port }, portGiven: portText !== undefined };
}

export function formatPeer(p: PeerAddress): string {
  return isIP(p.host) === 6 ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}
