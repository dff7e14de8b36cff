/**
 * `errors: { captureUnhandled: true }` in workers, in Chromium: a dedicated, shared or service
 * worker's uncaught errors and unhandled rejections arrive at its own global scope, never at a
 * page's `window`. On the code before, the error tracker listened only on `window`, which a
 * worker has none of: every crash of a worker went unrecorded, silently.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';
import { inWorker, registerServiceWorker, startWorker, until } from './workerScripts.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

interface Captured {
  type: unknown;
  message: unknown;
  mechanism: unknown;
  handled: unknown;
}

/** Makes a client that captures unhandled errors in worker `id`, then throws and rejects there. */
async function crashIn(page: Page, id: string): Promise<Captured[]> {
  await inWorker(
    page,
    id,
    () => {
      const captured: Captured[] = [];
      homing.keep.captured = captured;
      homing.keep.client = homing.telemetry(
        {
          name: 'worker-errors',
          endpoints: [
            {
              destination: 'custom',
              send: async (events) => {
                for (const e of events) {
                  if (e.event !== '$exception') continue;
                  const p = e.properties as Record<string, unknown>;
                  captured.push({
                    type: p['$exception_type'],
                    message: p['$exception_message'],
                    mechanism: p['$exception_mechanism'],
                    handled: p['$exception_handled'],
                  });
                }
              },
            },
          ],
          errors: { captureUnhandled: true, dedupWindowMs: 0 },
        },
        [],
      );
      setTimeout(() => {
        throw new TypeError('cart 42 is empty');
      }, 0);
      void Promise.reject(new RangeError('price out of range'));
    },
    null,
  );
  // The worker's own listeners saw both: they happened, captured or not.
  await until(
    () => inWorker(page, id, () => (homing.keep.errors as string[]).length === 2, null),
    10_000,
    'the error and the rejection in the worker',
  );
  return inWorker(
    page,
    id,
    async () => {
      const client = homing.keep.client as ReturnType<typeof homing.telemetry>;
      await client.flush({ timeoutMs: 10_000 });
      await client.shutdown({ timeoutMs: 2_000 });
      return homing.keep.captured as Captured[];
    },
    null,
  );
}

const EXPECTED: Captured[] = [
  { type: 'RangeError', message: 'price out of range', mechanism: 'unhandledrejection', handled: false },
  { type: 'TypeError', message: 'cart 42 is empty', mechanism: 'error', handled: false },
];

const byType = (c: Captured[]): Captured[] =>
  [...c].sort((a, b) => String(a.type).localeCompare(String(b.type)));

describe.skipIf(!available)('unhandled errors in workers are captured (Chromium)', () => {
  it.each(['dedicated', 'shared'] as const)('in a %s worker', async (kind) => {
    const page = await suite.openPage();
    await startWorker(page, kind, 'w');
    expect(byType(await crashIn(page, 'w'))).toEqual(EXPECTED);
  });

  it('in a service worker', async () => {
    const page = await suite.openPage();
    await registerServiceWorker(page);
    expect(byType(await crashIn(page, 'service'))).toEqual(EXPECTED);
  });
});
