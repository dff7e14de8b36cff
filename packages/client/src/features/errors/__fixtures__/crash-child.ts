// A child process for nodeUnhandled.test.ts: `node --import register-ts.mjs crash-child.ts
// <scenario> <out-file> <bare|hold|monitor|two>`. In `bare` no tracker is created, so the test can
// compare the process's own exit code and stderr with the tracked runs. Every scenario's
// throw is on the same line in all three modes.
import { appendFileSync } from 'node:fs';
import { createErrorTracker } from '../createErrorTracker.js';

const [scenario, out, mode] = process.argv.slice(2) as [string, string, string];
const write = (line: Record<string, unknown>): void => appendFileSync(out, `${JSON.stringify(line)}\n`);

// A listener the app added before any client was created.
if (scenario === 'app-once-exception') {
  process.once('uncaughtException', (e) => write({ appHandled: (e as Error).message }));
}

// `two`: two trackers (two Homing clients in one process), each holding the crash.
const trackers = mode === 'bare' ? [] : mode === 'two' ? ['first', 'second'] : ['first'];
for (const client of trackers) {
  createErrorTracker(
    {
      track: (event, p = {}) =>
        write({
          event,
          ...(mode === 'two' ? { client } : {}),
          level: p['$exception_level'],
          type: p['$exception_type'],
          message: p['$exception_message'],
          mechanism: p['$exception_mechanism'],
          handled: p['$exception_handled'],
        }),
      // Slow on purpose: only a crash that waits for it sees this line.
      persist: () =>
        new Promise<void>((resolve) =>
          setTimeout(
            () => (write(mode === 'two' ? { persisted: client } : { persisted: true }), resolve()),
            200,
          ),
        ),
      logger: { debug() {}, warn() {}, error: (m, d) => write({ loggerError: m, details: d }) },
      now: Date.now,
    },
    { captureUnhandled: true, persistBeforeCrashMs: mode === 'monitor' ? 0 : 20_000 },
  );
}
write({ started: true });

switch (scenario) {
  case 'throw':
    setTimeout(function boom() {
      throw new Error('kaboom 42');
    }, 1);
    break;
  case 'reject':
    (async function load() {
      throw new TypeError('rejected 7');
    })();
    break;
  case 'reject-string':
    void Promise.reject('just a string');
    break;
  case 'app-handles-exception':
    process.on('uncaughtException', (e) => write({ appHandled: (e as Error).message }));
    setTimeout(function boom() {
      throw new Error('handled by app');
    }, 1);
    setTimeout(() => write({ stillRunning: true }), 50);
    break;
  case 'app-handles-rejection':
    process.on('unhandledRejection', (r) => write({ appHandled: (r as Error).message }));
    void Promise.reject(new Error('rejection handled by app'));
    setTimeout(() => write({ stillRunning: true }), 50);
    break;
  case 'app-once-exception':
    setTimeout(function boom() {
      throw new Error('handled once by app');
    }, 1);
    setTimeout(() => write({ stillRunning: true }), 50);
    break;
  case 'app-once-rejection':
    // The app handles one rejection; the second, processed in the same tick, crashes.
    process.once('unhandledRejection', (r) => write({ appHandled: (r as Error).message }));
    void Promise.reject(new Error('first rejection'));
    void Promise.reject(new RangeError('second rejection'));
    setTimeout(() => write({ stillRunning: true }), 50);
    break;
  case 'exit-code':
    process.on('exit', (code) => write({ exitEvent: code }));
    setTimeout(() => {
      throw new RangeError('with exit listener');
    }, 1);
    break;
}
