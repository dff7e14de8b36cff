// A worker thread (node:worker_threads) for DirectoryLock.threads.test.ts, holding or contending
// for a lock in a directory the test's thread shares: `new Worker(thisFile, { workerData: {
// file, staleMs, heartbeatMs } })`. Plain JavaScript, since a worker does not run through vitest:
// it registers the TypeScript hooks (ts-hooks.mjs) for itself and imports the sources.
//
// It posts `{ ready: true }` once loaded, then answers each command `{ op, ... }` with
// `{ op, result }`:
//   tryAcquire / verify / release   on its DirectoryLock of `file`
//   block { ms }                    posts `{ op: 'blocking' }`, then keeps its event loop busy for
//                                   `ms` (a synchronous loop) before it answers
//   mute                            removes every 'workerMessage' listener of the thread (as an app
//                                   might), so probes fail as for a thread that is gone, and from
//                                   then on refreshes its lock's heartbeat every heartbeatMs
//   outbox { directory }            opens a file outbox there, appends a record and persists it,
//                                   claims it (which takes the delivery lock) and keeps the claim;
//                                   answers the uuids claimed
import { register } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

register('./ts-hooks.mjs', import.meta.url);
const { DirectoryLock } = await import('../DirectoryLock.js');
const { createFileOutbox } = await import('../createFileOutbox.js');

const { file, staleMs, heartbeatMs } = workerData;
const lock = new DirectoryLock(file, { staleMs, heartbeatMs });
const outboxes = [];

async function run(command) {
  switch (command.op) {
    case 'tryAcquire':
      return lock.tryAcquire();
    case 'verify':
      return lock.verify();
    case 'release':
      await lock.release();
      return true;
    case 'mute':
      process.removeAllListeners('workerMessage');
      setInterval(() => void lock.heartbeat(), heartbeatMs);
      return true;
    case 'block': {
      parentPort.postMessage({ op: 'blocking' });
      const until = Date.now() + command.ms;
      while (Date.now() < until) {
        // busy: nothing of this thread's runs meanwhile
      }
      return true;
    }
    case 'outbox': {
      const outbox = createFileOutbox({ directory: command.directory, staleMs, heartbeatMs });
      outboxes.push(outbox);
      const uuid = `worker-${Math.random().toString(16).slice(2)}`;
      outbox.append([{ uuid, json: JSON.stringify({ uuid }), timestampMs: Date.now() }]);
      await outbox.persist();
      const batch = await outbox.claim(100, Infinity);
      return batch === null ? null : batch.records.map((r) => r.uuid);
    }
    default:
      throw new Error(`unknown command ${command.op}`);
  }
}

parentPort.on('message', (command) => {
  run(command).then(
    (result) => parentPort.postMessage({ op: command.op, result }),
    (error) => parentPort.postMessage({ op: command.op, error: String(error?.stack ?? error) }),
  );
});
parentPort.postMessage({ ready: true });
