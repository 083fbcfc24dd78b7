// The node's side of POST /v1/peers/hello (net/protocol/peers.ts): a member says where it serves,
// and is recorded in this node's peer book. Who it is comes from its client certificate (which
// the mutual-TLS handshake has checked against the CA and the CRL), where it is from the
// connection: the body says only its name and its API port, so a member can record nobody but
// itself, and at no address but the one it comes from.
import { X509Certificate } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { P2pfxError } from '../core/errors.js';
import { nodeIdFromSpki } from '../pki/node-id.js';
import type { IndexDb } from '../store/index-db.js';
import { firstFault } from './protocol/common.js';
import { HELLO_REQUEST, type HelloReply } from './protocol/peers.js';

/** The node id of the client certificate the connection was made with. */
function callerNodeId(socket: TLSSocket): string {
  const raw = socket.getPeerCertificate?.()?.raw;
  // Cannot happen behind mutual TLS; said plainly rather than recorded as someone.
  if (!raw) throw new P2pfxError('CERT_REJECTED', 'a hello needs a client certificate');
  return nodeIdFromSpki(new X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' }));
}

/** The caller's address as peers dial it: an IPv4-mapped IPv6 address (a dual-stack listener's) as IPv4. */
export function observedHost(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped && isIPv4(mapped[1]!) ? mapped[1]! : address;
}

/**
 * Records the caller of a hello in the book (source 'hello'): BAD_REQUEST for a body that is not
 * `{name, port}` (nothing recorded), INVALID_PEER for this node's own certificate.
 */
export function recordHello(socket: TLSSocket, body: unknown, self: string, db: IndexDb): HelloReply {
  if (!HELLO_REQUEST.validate(body)) throw new P2pfxError('BAD_REQUEST', `body ${firstFault(HELLO_REQUEST.validate)}`);
  const { name, port } = body as { name: string; port: number };
  const nodeId = callerNodeId(socket);
  if (nodeId === self) {
    throw new P2pfxError('INVALID_PEER', 'this hello comes with this node\'s own certificate: a node is not its own peer (is a copy of this home serving on another machine?)');
  }
  const host = observedHost(socket.remoteAddress);
  if (host === '') throw new P2pfxError('BAD_REQUEST', 'the connection shows no address to record');
  db.notePeer({ nodeId, name, host, port, source: 'hello' });
  return { nodeId, name, host, port };
}
