/**
 * A CLI-like child process for the exit and crash tests, run as
 * `node --conditions=homing-source --import <register-ts.mjs> telemetry-child.ts <mode> <dir> <sinkUrl> [n]`.
 *
 * - `exit`: tracks `n` events with the default delivery schedule (5 s interval) and simply
 *   ends, as a CLI does: nothing but the client's `beforeExit` hook can send them. Prints
 *   `T <uuid>` per event (taken from `beforeSend`, which sees each event's uuid). With
 *   `HOMING_CHILD_METRICS=1` it also records a timing (performance feature on, runtime metrics
 *   included) and prints `B <n>` at exit: how many times `beforeExit` fired. With
 *   `HOMING_CHILD_TRACK_AT_EXIT=1` it tracks `cli.before_exit` from its own `beforeExit`
 *   listener and `cli.exit` from its own `exit` listener, and prints `B <n>` too;
 *   `HOMING_CHILD_INTERVAL_ZERO=1` sets `intervalMs: 0`; `HOMING_CHILD_ASYNC_EXIT_MS=<ms>`
 *   tracks `cli.async_exit` that long after the first `beforeExit`.
 * - `shutdown`: tracks `n` events, waits 500 ms, awaits `shutdown({ timeoutMs: 1000 })` at top
 *   level and prints `S <ms>` once it returned.
 * - `exit-now` / `throw`: tracks `n` events (with `HOMING_CHILD_METRICS=1` also a timing, and
 *   starts a conversation),
 *   prints `T <uuids>` and ends in the same turn, by `process.exit(0)` or by an uncaught
 *   exception: `beforeExit` never fires, only `exit`.
 * - `flush`: tracks `n` events, awaits `flush({ timeoutMs: 5000 })`, prints `T <uuids>` and
 *   `F <sent>`, and ends by itself (no shutdown), as a CLI that flushes does.
 * - `crash`: 'fsync' durability; tracks small groups forever and prints `P <uuids>` once
 *   `persist()` resolved (the group is durable), while delivering to the sink. It is SIGKILLed
 *   by the test. stdout to a pipe is synchronous on Linux, so a printed line happened.
 *
 * With `HOMING_CHILD_OWN_OUTBOX=1` the child makes its file outbox itself (`createFileOutbox`)
 * and passes it as `storage`, instead of `storage: 'file'`.
 */
import { createFileOutbox } from '../../outbox/node.js';
import { createTelemetry } from '../../index.node.js';

const [mode, directory, sinkUrl, nArg] = process.argv.slice(2);
const MODES = ['exit', 'crash', 'shutdown', 'exit-now', 'throw', 'flush'];
if (!MODES.includes(mode ?? '') || directory === undefined || sinkUrl === undefined) {
  process.stderr.write(`usage: telemetry-child.ts ${MODES.join('|')} <dir> <sinkUrl> [n]\n`);
  process.exit(2);
}

let seen: string[] = [];
const client = createTelemetry({
  endpoints: [{ destination: 'homing', host: sinkUrl, key: 'child-key' }],
  ...(process.env.HOMING_CHILD_OWN_OUTBOX === '1'
    ? { storage: createFileOutbox({ directory, durability: mode === 'crash' ? 'fsync' : 'batch' }) }
    : {
        storage: 'file' as const,
        directory,
        durability: mode === 'crash' ? ('fsync' as const) : ('batch' as const),
      }),
  beforeSend: (event) => {
    seen.push(event.uuid);
    return event;
  },
  delivery:
    mode === 'crash'
      ? { intervalMs: 20, batchSize: 25, retry: { initialMs: 10, maxMs: 100 }, breaker: { threshold: 1000 } }
      : mode === 'shutdown'
        ? { intervalMs: 20, flushOnExit: false }
        : {
            exitFlushTimeoutMs: 1_500,
            ...(process.env.HOMING_CHILD_INTERVAL_ZERO === '1' ? { intervalMs: 0 } : {}),
          },
  ...(process.env.HOMING_CHILD_METRICS === '1' ? { performance: {}, usage: {} } : {}),
});

if (mode === 'exit-now' || mode === 'throw') {
  const n = Number(nArg ?? '20');
  for (let i = 0; i < n; i++) client.track('cli.step', { i });
  // Its summary is made when the process ends: only the client's exit hooks can store it.
  if (process.env.HOMING_CHILD_METRICS === '1') {
    client.timing('cli.step.ms', 12);
    client.startConversation('conversation-1');
  }
  // The install id is a file read synchronously: every event was built (beforeSend ran) in track.
  process.stdout.write(`T ${seen.join(' ')}\n`);
  if (mode === 'throw') throw new Error('the CLI failed');
  process.exit(0);
} else if (mode === 'flush') {
  const n = Number(nArg ?? '20');
  for (let i = 0; i < n; i++) client.track('cli.step', { i });
  const result = await client.flush({ timeoutMs: 5_000 });
  process.stdout.write(`T ${seen.join(' ')}\nF ${result.sent}\n`);
} else if (mode === 'shutdown') {
  // Tracks `n` events, lets delivery try them for a while, then awaits shutdown at top level
  // (as a CLI's main does) and prints `S <ms it took>`: a shutdown that never settles ends the
  // process with code 13 and no `S` line.
  const n = Number(nArg ?? '10');
  for (let i = 0; i < n; i++) client.track('cli.step', { i });
  await client.persist();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const started = Date.now();
  await client.shutdown({ timeoutMs: 1_000 });
  process.stdout.write(`S ${Date.now() - started}\n`);
} else if (mode === 'exit') {
  const n = Number(nArg ?? '20');
  if (process.env.HOMING_CHILD_METRICS === '1') {
    let beforeExits = 0;
    process.on('beforeExit', () => beforeExits++);
    process.on('exit', () => process.stdout.write(`B ${beforeExits}\n`));
    client.timing('cli.step.ms', 12);
  }
  const asyncExitMs = Number(process.env.HOMING_CHILD_ASYNC_EXIT_MS ?? '0');
  if (asyncExitMs > 0) {
    // As a CLI that, once its main work is done, does a last bit of async work and records it.
    process.once('beforeExit', () => {
      setTimeout(() => client.track('cli.async_exit'), asyncExitMs);
    });
  }
  if (process.env.HOMING_CHILD_TRACK_AT_EXIT === '1') {
    // As a CLI records how it ended: from its own beforeExit and exit listeners.
    let beforeExits = 0;
    process.on('beforeExit', () => {
      beforeExits++;
      client.track('cli.before_exit', { n: beforeExits });
    });
    process.on('exit', (code) => {
      client.track('cli.exit', { code });
      process.stdout.write(`B ${beforeExits}\n`);
    });
  }
  for (let i = 0; i < n; i++) client.track('cli.step', { i });
  // Tracked in one turn; the ids are known once the install id was read (beforeSend ran).
  await client.persist();
  process.stdout.write(`T ${seen.join(' ')}\n`);
  seen = [];
  // No flush, no shutdown: the process ends here, as a CLI's main does.
} else {
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  process.stdout.write('R\n');
  for (let round = 0; ; round++) {
    const n = 1 + Math.floor(Math.random() * 10);
    for (let i = 0; i < n; i++)
      client.track('crash.step', { round, i, pad: 'x'.repeat(Math.floor(Math.random() * 300)) });
    await client.persist();
    const durable = seen;
    seen = [];
    if (durable.length > 0) process.stdout.write(`P ${durable.join(' ')}\n`);
    if (Math.random() < 0.3) await pause(Math.random() * 5);
  }
}
