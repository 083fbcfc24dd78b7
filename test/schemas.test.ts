// The validators compiled ahead of time (src/core/generated/*.ts) are exactly what ajv makes of
// today's schemas: a schema changed without `npm run gen:validators` fails here.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { VALIDATORS, generate } from '../scripts/gen-validators.js';
import { repoRoot } from './helpers/cli.js';

test('each generated validator matches its schema (run `npm run gen:validators` after changing one)', async () => {
  for (const v of VALIDATORS) {
    assert.equal(await readFile(join(repoRoot, v.file), 'utf8'), generate(v.schema, v.from), `${v.file} is out of date with ${v.from}`);
  }
});
