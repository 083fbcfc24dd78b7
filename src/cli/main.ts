#!/usr/bin/env node
import { run } from './program.js';

// A reader that goes away (`p2pfx files | head`) ends the output, not the process with a stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv);
