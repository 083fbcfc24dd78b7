import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ERROR_CODES, P2pfxError, toP2pfxError } from '../src/core/errors.js';

const DOC = new URL('../../docs/errors.md', import.meta.url);

test('docs/errors.md lists exactly the error codes of src/core/errors.ts, with their HTTP status', async () => {
  const doc = await readFile(DOC, 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, spec] of Object.entries(ERROR_CODES)) assert.equal(rows.get(code), spec.status, `status of ${code}`);
});

test('a P2pfxError carries its code, status, default hint, and the wire shape', () => {
  const e = new P2pfxError('HASH_MISMATCH', 'chunk x');
  assert.equal(e.status, 400);
  assert.equal(e.hint, ERROR_CODES.HASH_MISMATCH.hint);
  assert.deepEqual(e.toJSON(), { error: { code: 'HASH_MISMATCH', message: 'chunk x' } });
  assert.equal(toP2pfxError(new Error('boom')).code, 'INTERNAL');
  assert.equal(toP2pfxError(e), e);
});
