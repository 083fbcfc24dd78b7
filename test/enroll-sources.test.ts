// The enrollment listener is the one port a machine without a certificate can reach: its bounds
// per source (connections at once, requests a minute, wrong codes a minute) keep many hostile
// clients from stopping a real join. Real listener, real TLS, sources 127.0.0.2… on loopback.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { sourceKey } from '../src/net/http-front.js';
import { ENROLL_SOURCE_BOUNDS, MAX_FAILED_JOINS } from '../src/net/protocol/enrollment.js';
import { InviteBook, inviteState } from '../src/store/invite-book.js';
import { LOCAL, caSide, tlsFrom, joinVia, joinerHome, joinsSeen, preparedJoin, readText, wrongCode } from './helpers/enroll.js';

const GARBAGE_SOURCES = 16;

/** A TLS connection from `from` that completes its handshake and then says nothing. */
async function idleTls(port: number, from: string): Promise<TLSSocket> {
  const socket = tlsFrom(port, from);
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  return socket;
}

/** How a TLS connection from `from` ends: 'handshake' when it completes, else why it did not. */
function tryTls(port: number, from: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsFrom(port, from);
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('handshake');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.once('close', () => resolve('closed'));
  });
}

/** Raw bytes (not TLS) from `from`; resolves once the listener closed the connection. */
async function junk(port: number, from: string, bytes: Buffer): Promise<void> {
  const socket: Socket = netConnect({ host: LOCAL, port, localAddress: from });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(bytes);
  socket.resume();
  await once(socket, 'close');
}

/** An HTTP request over a fresh TLS connection from `from`; the status and the error code. */
async function ask(port: number, from: string, request: string): Promise<{ status: number; code: string | null }> {
  const socket = tlsFrom(port, from);
  await once(socket, 'secureConnect');
  socket.end(request);
  let text = '';
  for await (const piece of socket) text += (piece as Buffer).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? null;
  return { status, code };
}

test('sources: an IPv4 address, an IPv4-mapped one as the same, an IPv6 address as its /64', () => {
  assert.equal(sourceKey('192.168.1.20'), '192.168.1.20');
  assert.equal(sourceKey('::ffff:192.168.1.20'), '192.168.1.20');
  assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8::1.2.3.4'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
  assert.equal(sourceKey(undefined), '?');
});

test(`many garbage clients on ${GARBAGE_SOURCES} addresses do not stop a real join, and each is held to its bounds`, { timeout: 120_000 }, async (t) => {
  const side = await caSide(t);
  const { id, code } = await side.invite();
  const port = side.server.port;
  const sources = Array.from({ length: GARBAGE_SOURCES }, (_, i) => `127.0.0.${i + 2}`);
  const held: TLSSocket[] = [];
  t.after(() => {
    for (const socket of held) socket.destroy();
  });

  // Every garbage source holds as many idle TLS connections as it may; one more is closed before
  // its handshake.
  for (const from of sources) {
    for (let i = 0; i < ENROLL_SOURCE_BOUNDS.connections; i++) held.push(await idleTls(port, from));
    assert.notEqual(await tryTls(port, from), 'handshake', `${from}: a connection past ${ENROLL_SOURCE_BOUNDS.connections} open at once`);
  }
  // While they hang on, the same sources (one connection each freed for it) send junk, garbage
  // HTTP, wrong codes and a flood of requests.
  const [guesser, flooder, ...rest] = sources;
  for (const from of [guesser!, flooder!, ...rest.slice(0, 2)]) held.splice(held.findIndex((s) => s.localAddress === from), 1)[0]!.destroy();
  await junk(port, rest[0]!, Buffer.from('\x16\x03\x01\x00\x05hello, not TLS at all'));
  const garbage = await ask(port, rest[1]!, 'POST /v1/join HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{"a":[1,');
  assert.deepEqual(garbage, { status: 400, code: 'BAD_REQUEST' });
  const guesses: Array<number> = [];
  for (let i = 0; i <= MAX_FAILED_JOINS; i++) guesses.push((await (await preparedJoin(port, wrongCode(code), `guess${i}`, { localAddress: guesser! }))()).status);
  assert.deepEqual(guesses, [...Array<number>(MAX_FAILED_JOINS).fill(403), 429], 'wrong codes: refused, then the guesser is locked out');
  const flood: Array<string | null> = [];
  for (let i = 0; i < ENROLL_SOURCE_BOUNDS.requestsPerMinute + 2; i++) flood.push((await ask(port, flooder!, 'GET /v1/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).code);
  assert.deepEqual(flood, [...Array<string>(ENROLL_SOURCE_BOUNDS.requestsPerMinute).fill('NOT_FOUND'), 'RATE_LIMITED', 'RATE_LIMITED']);

  // The real joiner, on its own address, joins while all of that holds.
  const home = joinerHome(side);
  const joined = await joinVia(side, home, code);
  assert.equal(joined.name, 'newbie');
  assert.match(await readText(home.nodeCertPath), /BEGIN CERTIFICATE/);
  assert.equal((await joinsSeen(side, 1))[0]!.name, 'newbie');
  const book = new InviteBook(side.home.dbPath);
  t.after(() => book.close());
  assert.equal(inviteState(book.get(id)!), 'used');
});
