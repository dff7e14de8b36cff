// A worker thread (node:worker_threads) for installIdRace.test.ts: answers each `{ directory }`
// with `{ id }` (or `{ error }`) from installIdFile(directory)(), called once the shared flag
// `go` (workerData.go, an Int32Array's buffer) turns 1, so every worker reads and repairs the
// same damaged file at the same moment. Plain JavaScript, since a worker does not run through
// vitest: it registers the TypeScript hooks for itself and imports the sources.
import { register } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

register('../../outbox/file-log/__fixtures__/ts-hooks.mjs', import.meta.url);
const { installIdFile } = await import('../installIdFile.node.js');

const go = new Int32Array(workerData.go);
parentPort.on('message', ({ directory, round }) => {
  const store = installIdFile(directory);
  parentPort.postMessage({ waiting: round });
  Atomics.wait(go, 0, round - 1);
  try {
    parentPort.postMessage({ round, id: store() });
  } catch (error) {
    parentPort.postMessage({ round, error: String(error) });
  }
});
parentPort.postMessage({ ready: true });
