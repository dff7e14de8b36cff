/**
 * A one-event script, run as
 * `node --conditions=homing-source --import <register-ts.mjs> options-child.ts <options JSON> [event]`:
 * `createTelemetry` with the options given (JSON: no functions), `track(event)`, and nothing
 * else: no flush, no shutdown. It must end by itself. Prints `T <uuid>` of the event tracked.
 */
import { createTelemetry } from '../../index.node.js';
import type { TelemetryOptions } from '../options.js';

const [json, event = 'x'] = process.argv.slice(2);
if (json === undefined) {
  process.stderr.write('usage: options-child.ts <options JSON> [event]\n');
  process.exit(2);
}
const client = createTelemetry({
  ...(JSON.parse(json) as TelemetryOptions),
  beforeSend: (e) => {
    process.stdout.write(`T ${e.uuid}\n`);
    return e;
  },
});
client.track(event);
