/**
 * A child process for the dead-letter crash test, run as
 * `node --import ./register-ts.mjs dead-letter-child.ts <dir> <count>`.
 *
 * Appends `count` records, makes them durable, claims them and dead-letters them, then prints
 * `D <uuids>` and waits to be killed: its queue's cursor, saved only by a persist(), a timer an
 * hour away, or at exit, never records them gone (the crash between the dead-letter write and
 * the cursor save).
 */
import { createFileOutbox } from '../createFileOutbox.js';

const [directory, countArg] = process.argv.slice(2);
if (directory === undefined || countArg === undefined) {
  process.stderr.write('usage: dead-letter-child.ts <dir> <count>\n');
  process.exit(2);
}
const outbox = createFileOutbox({ directory, persistIntervalMs: 3_600_000 });
const records = Array.from({ length: Number(countArg) }, (_, i) => {
  const uuid = `dl-${process.pid}-${i}`;
  return { uuid, json: JSON.stringify({ uuid, event: 'refused' }), timestampMs: Date.now() };
});
outbox.append(records);
await outbox.persist();
const batch = await outbox.claim(records.length, Infinity);
if (batch === null) {
  process.stderr.write('nothing to claim\n');
  process.exit(3);
}
await outbox.deadLetter(batch.records, 'refused');
process.stdout.write(`D ${batch.records.map((r) => r.uuid).join(' ')}\n`);
// Kept alive until the test kills it (SIGKILL: no exit hook runs, as in a crash).
setInterval(() => {}, 60_000);
