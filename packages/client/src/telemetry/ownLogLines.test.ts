import { afterEach, describe, expect, it, vi } from 'vitest';
import { guardedLogger } from '../logger.js';
import type { TelemetryClient } from './client.js';
import { clientFor, Sink } from './telemetry.test-helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the client's own log lines", () => {
  it('reach the logger without a stray undefined when they carry no details', () => {
    const calls: unknown[][] = [];
    const log = guardedLogger({
      debug: (...args: unknown[]) => void calls.push(args),
      warn: (...args: unknown[]) => void calls.push(args),
      error: (...args: unknown[]) => void calls.push(args),
    });
    log.debug('outbox storage: IndexedDB');
    log.warn('with details', { count: 2 });
    expect(calls).toEqual([['outbox storage: IndexedDB'], ['with details', { count: 2 }]]);
  });

  it("never become console breadcrumbs, when the app's logger (or HOMING_DEBUG) prints them", async () => {
    const printed: string[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    });
    cleanups.push(() => warn.mockRestore());
    const sink = await Sink.start();
    cleanups.push(() => sink.down());
    const client: TelemetryClient = clientFor(sink, {
      // An app logger that prints, as `logger: console` does.
      logger: { debug: () => {}, warn: (message) => console.warn(message), error: () => {} },
      errors: { consoleBreadcrumbs: true, consoleMethods: ['warn'] },
    });
    cleanups.push(() => client.shutdown({ timeoutMs: 2_000 }));
    client.identify('undefined'); // a placeholder id: the client warns through its logger
    console.warn('the app warns');
    expect(printed.some((line) => line.includes('identify ignored'))).toBe(true);
    expect(client.getBreadcrumbs().map((b) => b.message)).toEqual(['the app warns']);
  });
});
