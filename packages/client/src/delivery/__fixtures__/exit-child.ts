/**
 * A CLI-like child for the exit budget test, run as
 * `node --conditions=homing-source --import <register-ts.mjs> exit-child.ts <dir> <sinkUrl> <n>`:
 * tracks `n` events with the default delivery options (request timeout 10 s, exit flush 2 s)
 * and simply ends, as a CLI's main does (no flush, no shutdown). It says `tracked` on stdout once
 * its events are tracked, so the test times the exit from there, not from a start-up that a
 * loaded machine can stretch.
 */
import { createTelemetry } from '../../index.node.js';

const [directory, sinkUrl, nArg] = process.argv.slice(2);
if (directory === undefined || sinkUrl === undefined) {
  process.stderr.write('usage: exit-child.ts <dir> <sinkUrl> [n]\n');
  process.exit(2);
}
const client = createTelemetry({
  endpoints: [{ destination: 'homing', host: sinkUrl, key: 'child-key' }],
  storage: 'file',
  directory,
});
const n = Number(nArg ?? '5');
for (let i = 0; i < n; i++) client.track('cli.run', { i });
process.stdout.write('tracked\n');
