import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  ERROR_CODES, errorClass, failsEveryPeer, keepsPartial, P2pfxError, peerIsDown, toP2pfxError, type ErrorClass, type ErrorCode,
} from '../src/core/errors.js';

const DOC = new URL('../../docs/errors.md', import.meta.url);

test('docs/errors.md lists exactly the error codes of src/core/errors.ts, with their HTTP status and class', async () => {
  const doc = await readFile(DOC, 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| ([a-z]+) \|/gm)].map((m) => [m[1]!, { status: Number(m[2]), kind: m[3] }]));
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, spec] of Object.entries(ERROR_CODES)) assert.deepEqual(rows.get(code), { status: spec.status, kind: spec.kind }, `status and class of ${code}`);
});

/** What each class means for a download's partial, a swarm's peer, and a send to several peers. */
const RULES: Record<ErrorClass, { keepsPartial: boolean; peerIsDown: boolean; failsEveryPeer: boolean; example: ErrorCode }> = {
  usage: { keepsPartial: true, peerIsDown: false, failsEveryPeer: true, example: 'INVALID_ARGUMENT' },
  local: { keepsPartial: true, peerIsDown: false, failsEveryPeer: true, example: 'FILE_CHANGED' },
  capacity: { keepsPartial: true, peerIsDown: false, failsEveryPeer: false, example: 'INSUFFICIENT_STORAGE' },
  transport: { keepsPartial: true, peerIsDown: true, failsEveryPeer: false, example: 'PEER_TIMEOUT' },
  absent: { keepsPartial: true, peerIsDown: false, failsEveryPeer: false, example: 'CHUNK_NOT_FOUND' },
  trust: { keepsPartial: true, peerIsDown: true, failsEveryPeer: false, example: 'CERT_REVOKED' },
  integrity: { keepsPartial: false, peerIsDown: false, failsEveryPeer: false, example: 'HASH_MISMATCH' },
  internal: { keepsPartial: true, peerIsDown: false, failsEveryPeer: false, example: 'INTERNAL' },
};

for (const [kind, rule] of Object.entries(RULES) as Array<[ErrorClass, (typeof RULES)[ErrorClass]]>) {
  test(`errors of class ${kind} (e.g. ${rule.example}): partial kept ${rule.keepsPartial}, peer down ${rule.peerIsDown}, every peer's send stopped ${rule.failsEveryPeer}`, () => {
    const codes = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].kind === kind);
    assert.ok(codes.includes(rule.example), `${rule.example} is of class ${kind}`);
    for (const code of codes) {
      const e = new P2pfxError(code, 'x');
      assert.equal(errorClass(e), kind, code);
      assert.deepEqual([keepsPartial(e), peerIsDown(e), failsEveryPeer(e)], [rule.keepsPartial, rule.peerIsDown, rule.failsEveryPeer], code);
    }
  });
}

test('anything thrown that is not a P2pfxError is internal, and follows the internal rules', () => {
  for (const thrown of [new Error('boom'), new TypeError('x is undefined'), 'a string', undefined]) {
    assert.equal(errorClass(thrown), 'internal');
    assert.deepEqual([keepsPartial(thrown), peerIsDown(thrown), failsEveryPeer(thrown)], [true, false, false]);
  }
});

test('a P2pfxError carries its code, status, default hint, and the wire shape', () => {
  const e = new P2pfxError('HASH_MISMATCH', 'chunk x');
  assert.equal(e.status, 400);
  assert.equal(e.hint, ERROR_CODES.HASH_MISMATCH.hint);
  assert.deepEqual(e.toJSON(), { error: { code: 'HASH_MISMATCH', message: 'chunk x' } });
  assert.equal(toP2pfxError(new Error('boom')).code, 'INTERNAL');
  assert.equal(toP2pfxError(e), e);
});
