// The upgrade that opens a bulk stream (net/upgrade.ts), done by hand on a connection that reads
// into one reused buffer: against a real mutual-TLS server with a certificate of the network's
// CA on 127.0.0.1, answering as a refusing, broken, silent or hostile peer would. Each answer
// gets a stable code and a message naming the peer; bytes sent past a 101 reach the stream.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { P2pfxError } from '../src/core/errors.js';
import { PeerClient } from '../src/net/client.js';
import { errorFrame } from '../src/net/protocol/bulk.js';
import { makeNetwork, type TestNode } from './helpers/network.js';

/**
 * A peer with a network certificate that reads each request's head and answers with `answer`
 * (health probes get a plain 200, as a live node's would).
 */
async function peerAnswering(t: TestContext, as: TestNode, answer: (socket: TLSSocket, head: string) => void): Promise<number> {
  const { creds } = as.node;
  const sockets = new Set<TLSSocket>();
  const server = createTlsServer({ key: creds.keyPem, cert: creds.certPem, ca: creds.caCertPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => {
      if (text.includes('\r\n\r\n')) return;
      text += d.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      if (text.startsWith('GET /v1/health')) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
      else answer(socket, text);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

const json = (code: string, message: string) => JSON.stringify({ error: { code, message } });

interface Case {
  what: string;
  answer: (socket: TLSSocket, head: string) => void;
  code: string;
  message: RegExp;
}

const CASES: Case[] = [
  {
    what: 'a refusal in the API error shape: the peer\'s own code and message',
    answer: (s) => {
      const body = json('CERT_REVOKED', 'this certificate is revoked');
      s.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    },
    code: 'CERT_REVOKED', message: /^peer 127\.0\.0\.1:\d+: this certificate is revoked$/,
  },
  {
    what: 'a refusal whose head and body come in pieces, header names in any case',
    answer: (s) => {
      const body = json('NOT_FOUND', 'no stream here');
      const whole = `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      let at = 0;
      const next = () => {
        if (at >= whole.length) return;
        s.write(whole.slice(at, at + 7));
        at += 7;
        setImmediate(next);
      };
      next();
    },
    code: 'NOT_FOUND', message: /no stream here/,
  },
  {
    what: 'a refusal that is not JSON: PEER_ERROR with the HTTP status',
    answer: (s) => s.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 5\r\n\r\noops!'),
    code: 'PEER_ERROR', message: /answered GET \/v1\/chunks\/stream\?mode=fetch with HTTP 502/,
  },
  {
    what: 'an answer that is not HTTP',
    answer: (s) => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'),
    code: 'PEER_ERROR', message: /not HTTP\/1\.1/,
  },
  {
    what: 'an answer head past 16 KiB',
    answer: (s) => s.write(`HTTP/1.1 101 Switching Protocols\r\nx-filler: ${'x'.repeat(20_000)}`),
    code: 'PEER_ERROR', message: /head over 16384 bytes/,
  },
  {
    what: 'a connection closed without an answer (the peer answers other requests)',
    answer: (s) => s.destroy(),
    code: 'PEER_UNREACHABLE', message: /cut before its answer/,
  },
  {
    what: 'silence past the idle timeout',
    answer: () => undefined,
    code: 'PEER_TIMEOUT', message: /stopped answering/,
  },
];

test('opening a bulk stream: every answer a peer can give gets a stable code and a message naming the peer', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const peer = await net.add('peer', { serve: false });
  for (const c of CASES) {
    await t.test(c.what, async (t) => {
      const port = await peerAnswering(t, peer, c.answer);
      const client = new PeerClient({ host: '127.0.0.1', port }, a.node.creds, { connectTimeoutMs: 10_000, idleTimeoutMs: c.code === 'PEER_TIMEOUT' ? 300 : 30_000 });
      t.after(() => client.close());
      await assert.rejects(client.openFetch(() => Buffer.alloc(0), () => undefined, () => undefined), (err: unknown) => {
        assert.ok(err instanceof P2pfxError, String(err));
        assert.equal(err.code, c.code, err.message);
        assert.match(err.message, c.message);
        return true;
      });
    });
  }
});

test('bytes a peer sends in the same write as its 101 reach the stream: here an error frame, heard as the stream\'s failure', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha');
  const peer = await net.add('peer', { serve: false });
  const port = await peerAnswering(t, peer, (s) => {
    s.write(Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: p2pfx-frames/1\r\n\r\n'), errorFrame('INSUFFICIENT_STORAGE', 'the disk is full')]));
  });
  const client = new PeerClient({ host: '127.0.0.1', port }, a.node.creds, { connectTimeoutMs: 10_000, idleTimeoutMs: 30_000 });
  t.after(() => client.close());
  let failed: (err: P2pfxError) => void = () => undefined;
  const failure = new Promise<P2pfxError>((resolve) => (failed = resolve));
  const channel = await client.openFetch(() => Buffer.alloc(0), () => undefined, (err) => failed(err));
  const err = await failure;
  assert.equal(err.code, 'INSUFFICIENT_STORAGE');
  assert.match(err.message, /^peer 127\.0\.0\.1:\d+: the disk is full$/);
  assert.equal(channel.usable, false);
});
