// What a user reads when talking to a peer fails (net/peer-errors.ts): words, not the codes of
// Node's resolver or of its sockets (those stay in the error's cause, shown with --debug). The
// errors are the values Node's own dns and net modules give (the resolver is not asked: tests use
// loopback only); the certificate and timeout paths are tested against real peers elsewhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peerTransportError, type PeerSide } from '../src/net/peer-errors.js';

const side = (over: Partial<PeerSide> = {}): PeerSide => ({
  label: 'nosuchpeer:8443', peer: { host: 'nosuchpeer', port: 8443 }, tlsOptions: {}, selfRevoked: false, unknownName: false, ...over,
});
const resolverError = (code: string) => Object.assign(new Error(`getaddrinfo ${code} nosuchpeer`), { code, syscall: 'getaddrinfo', hostname: 'nosuchpeer' });

test('an unknown --peer that is no host name either: INVALID_PEER saying both, and how to see the book', () => {
  for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
    const e = peerTransportError(resolverError(code), side({ unknownName: true }));
    assert.equal(e.code, 'INVALID_PEER');
    assert.equal(e.message, 'nosuchpeer is neither a peer in the book nor a host name this machine can resolve');
    assert.match(e.hint, /`p2pfx peers`/);
    assert.equal((e.cause as { code?: string }).code, code, 'the system code is kept for --debug');
  }
});

test('a host name of the book that does not resolve, no route, a cut connection: said in words, no system code in the message', () => {
  const cases: Array<[Error, string, RegExp]> = [
    [resolverError('ENOTFOUND'), 'PEER_UNREACHABLE', /^cannot reach nosuchpeer:8443: its host name does not resolve on this machine$/],
    [Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' }), 'PEER_UNREACHABLE', /^cannot reach nosuchpeer:8443: no route to it from this machine's networks$/],
    [Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }), 'PEER_UNREACHABLE',
      /^the connection to nosuchpeer:8443 was cut before its answer: the peer stopped, restarted or dropped it$/],
  ];
  for (const [err, code, message] of cases) {
    const e = peerTransportError(err, side());
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /E[A-Z]{4,}|UND_ERR/, 'no library or system code in the explanation');
  }
  assert.match(peerTransportError(cases[2]![0], side()).hint, /run the same command again: a send or a get resumes where it stopped/);
});
