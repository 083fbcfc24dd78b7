// The load benchmark (scripts/load.ts), bounded: ~3 s, 2 client processes against one
// `p2pfx serve`. Correctness only — every answer true, no 5xx, the server alive and within a
// generous memory bound; how fast is the benchmark's business, not a test's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { LoadResult } from '../scripts/load.js';

const LOAD = fileURLToPath(new URL('../scripts/load.js', import.meta.url));
const RSS_BOUND_MIB = 300;

test('under ~3 s of concurrent chunk PUTs and GETs from 2 client processes, the server answers every request truly: no wrong answer, no 5xx, peak RSS bounded', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, [LOAD, '--seconds', '3', '--clients', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  let r: LoadResult;
  try {
    r = JSON.parse(stdout) as LoadResult;
  } catch {
    assert.fail(`the load script printed no JSON (exit ${code}):\n${stderr}\n${stdout.slice(0, 2000)}`);
  }
  const why = `${JSON.stringify({ failures: r.failures, errorsByStatus: r.errorsByStatus, wrongExamples: r.wrongExamples })}\n${stderr}`;
  assert.equal(r.wrongAnswers, 0, why);
  assert.equal(r.fiveXX, 0, why);
  assert.equal(r.server.diedDuringRun, null, why);
  assert.equal(code, 0, why);
  assert.equal(r.pass, true, why);
  // Every kind of request was made and answered as it should be, by both clients.
  assert.equal(r.clients, 2);
  for (const [kind, op] of Object.entries(r.ops)) assert.ok(op.ok > 0, `${kind}: ${JSON.stringify(op)}`);
  assert.ok(r.server.peakRssMiB > 0 && r.server.peakRssMiB < RSS_BOUND_MIB, `server peak RSS ${r.server.peakRssMiB.toFixed(0)} MiB (bound ${RSS_BOUND_MIB})`);
});
