/**
 * A child process for the crash and concurrency tests, run as
 * `node --import ./register-ts.mjs outbox-child.ts <dir> <mode> [iterations] [claimLog]`.
 *
 * It appends records in small groups and prints, one line per step (stdout to a pipe is
 * synchronous on Linux, so a printed line happened before what follows it):
 *   Q <uuids>  about to append them      P <uuids>  persist() resolved: they are durable
 *   S <uuids>  claimed ("sent")           A <uuids>  ack() and persist() resolved
 *   R <uuids>  about to release them
 * Modes: 'append' only appends; 'deliver' also claims, acks or releases, and now and then
 * closes and reopens its outbox (handing the delivery lock over). With a claim log, every
 * claim and settle is also appended to that shared file (`C|A|R pid uuid`), written after
 * claim() resolved and before ack()/release() is called.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { Outbox, OutboxRecord } from '../../outbox.js';
import { createFileOutbox } from '../createFileOutbox.js';

const [directory, mode, iterationsArg, claimLog] = process.argv.slice(2);
if (directory === undefined || (mode !== 'append' && mode !== 'deliver')) {
  process.stderr.write('usage: outbox-child.ts <dir> append|deliver [iterations] [claimLog]\n');
  process.exit(2);
}
const iterations = iterationsArg === undefined || iterationsArg === '' ? Infinity : Number(iterationsArg);
const prefix = `${process.pid.toString(16)}-${randomBytes(3).toString('hex')}`;
let counter = 0;

const open = (): Outbox =>
  createFileOutbox({
    directory,
    persistIntervalMs: 2,
    maxSegmentBytes: 16 * 1024,
    heartbeatMs: 200,
    staleMs: 2000,
  });
const say = (kind: string, uuids: readonly string[]): void => {
  if (uuids.length > 0) process.stdout.write(`${kind} ${uuids.join(' ')}\n`);
};
const logClaims = (kind: string, uuids: readonly string[]): void => {
  if (claimLog !== undefined && uuids.length > 0) {
    appendFileSync(claimLog, uuids.map((u) => `${kind} ${process.pid} ${u}\n`).join(''));
  }
};
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let outbox = open();
for (let i = 0; i < iterations; i++) {
  const records: OutboxRecord[] = Array.from({ length: 1 + Math.floor(Math.random() * 20) }, () => {
    const uuid = `${prefix}-${(counter++).toString(16)}`;
    return {
      uuid,
      json: JSON.stringify({ uuid, event: 'crash.test', pad: 'x'.repeat(Math.floor(Math.random() * 400)) }),
      timestampMs: Date.now(),
    };
  });
  const uuids = records.map((r) => r.uuid);
  say('Q', uuids);
  outbox.append(records);
  if (Math.random() < 0.3) await pause(Math.random() * 5);
  await outbox.persist();
  say('P', uuids);
  if (mode === 'deliver' && Math.random() < 0.6) {
    const batch = await outbox.claim(1 + Math.floor(Math.random() * 40), Infinity);
    if (batch !== null) {
      const claimed = batch.records.map((r) => r.uuid);
      logClaims('C', claimed);
      say('S', claimed);
      if (Math.random() < 0.25) {
        logClaims('R', claimed);
        say('R', claimed);
        await outbox.release(batch);
      } else {
        logClaims('A', claimed);
        await outbox.ack(batch);
        await outbox.persist(); // acks, like appends, are durable once persist() resolves
        say('A', claimed);
      }
    }
    if (Math.random() < 0.05) {
      await outbox.close();
      // Give the other process a chance at the delivery lock before taking it again.
      await pause(20 + Math.random() * 30);
      outbox = open();
    }
  }
}
await outbox.close();
process.stdout.write('DONE\n');
