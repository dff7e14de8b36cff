#!/usr/bin/env node
import { processOutput } from './outputFailures.js';
import { runCli } from './program.js';

// A write to stdout or stderr that fails (a full disk under a redirect) loses that output, not
// the command's work; a reader that stops early (`homing dead-letters | head`) is no failure.
processOutput.watch();

const code = await runCli(process.argv);
// A write's failure is told a turn after it at the soonest.
await new Promise((resolve) => setImmediate(resolve));
process.exitCode = processOutput.commandDone() && code === 0 ? 1 : code;
