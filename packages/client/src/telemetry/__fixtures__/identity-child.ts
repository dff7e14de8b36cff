/**
 * A CLI-like child process for the identity tests, run as
 * `node --conditions=homing-source --import <register-ts.mjs> identity-child.ts <dir> <op> <end>`:
 * `op` is `identify` (as 'carol'), `reset` or `deny` (`setConsent('denied')`); `end` is `exit`
 * (`process.exit(0)`) or `throw` (an uncaught exception), in the same turn as the call: only
 * the `exit` event runs after it; or `shutdown` (`await shutdown()`, a CLI that ends well).
 * With `HOMING_CHILD_CONSENT` set, that is the `consent` option.
 */
import { createTelemetry } from '../../index.node.js';

const [directory, op, end] = process.argv.slice(2);
if (
  directory === undefined ||
  (op !== 'identify' && op !== 'reset' && op !== 'deny') ||
  (end !== 'exit' && end !== 'throw' && end !== 'shutdown')
) {
  process.stderr.write('usage: identity-child.ts <dir> identify|reset|deny exit|throw|shutdown\n');
  process.exit(2);
}
const consent = process.env.HOMING_CHILD_CONSENT ?? '';
const client = createTelemetry({
  endpoints: [{ destination: 'custom', send: async () => {} }],
  storage: 'file',
  directory,
  ...(consent === '' ? {} : { consent: consent as 'granted' | 'denied' | 'pending' }),
  delivery: { flushOnExit: false },
});
if (op === 'identify') client.identify('carol');
else if (op === 'reset') client.reset();
else client.setConsent('denied');
client.track('cli.step');
if (end === 'throw') throw new Error('the CLI failed');
if (end === 'shutdown') await client.shutdown({ timeoutMs: 5_000 });
process.exit(0);
