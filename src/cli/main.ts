#!/usr/bin/env node
// The `p2pfx` command. It checks the runtime before loading anything else: the program needs
// Node.js 24 (node:sqlite among others), and an older node should say so, not fail on an import.
// core/errors.js is plain JavaScript any node can load.
import { ERROR_CODES } from '../core/errors.js';

const MIN_NODE_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  process.stderr.write(`error UNSUPPORTED_RUNTIME: p2pfx needs Node.js ${MIN_NODE_MAJOR} or newer; this is ${process.version} (${process.execPath})\n`);
  process.stderr.write(`  hint: ${ERROR_CODES.UNSUPPORTED_RUNTIME.hint}\n`);
  process.exit(1);
}

// A reader that goes away (`p2pfx files | head`) ends the output, not the process with a stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// No top-level await: the single executable runs this bundled as CommonJS.
let settled = false;
void import('./program.js').then(({ run }) => run(process.argv)).then((code) => {
  settled = true;
  process.exitCode = code;
});
// The event loop emptied while the command still waited on something: a bug, never a success.
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('error INTERNAL: the command stopped before it finished (nothing left to wait on)\n');
  process.stderr.write(`  hint: ${ERROR_CODES.INTERNAL.hint}\n`);
  process.exitCode = 1;
});
