#!/usr/bin/env node
import { runCli } from './program.js';

// A reader that stops early (`homing dead-letters | head`) closes the pipe: the rest of the
// output has nowhere to go, which is no reason to print a stack trace or stop a flush midway.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await runCli(process.argv);
