import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runOptionsChild } from './__fixtures__/spawnOptionsChild.js';
import { Sink } from './telemetry.test-helpers.js';

/**
 * Retry and breaker waits of 0 (or 1 ms) are accepted; against an endpoint that refuses every
 * connection they made a one-event script try it back to back, each attempt with a state write
 * that kept the process alive: it never ended. Delivery waits at least MIN_RETRY_WAIT_MS.
 */
describe('a one-event script against a refused endpoint, with the shortest waits (child processes)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-refused-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['no waits', { retry: { maxMs: 0 }, breaker: { halfOpenAfterMs: 0 } }],
    ['no waits, no exit flush', { retry: { maxMs: 0 }, breaker: { halfOpenAfterMs: 0 }, flushOnExit: false }],
    [
      '1 ms waits, a breaker that never opens',
      { retry: { initialMs: 1, maxMs: 1 }, breaker: { threshold: 1_000_000 } },
    ],
  ])('%s: ends by itself', { timeout: 60_000 }, async (name, delivery) => {
    const sink = await Sink.start();
    await sink.down(); // the port is now closed: connections are refused
    const run = await runOptionsChild({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
      storage: 'file',
      directory: path.join(dir, name.replace(/\W+/g, '-')),
      distinctId: 'u',
      delivery,
    });
    expect({ code: run.code, signal: run.signal }, run.stderr).toEqual({ code: 0, signal: null });
    expect(run.tracked).toHaveLength(1);
  });
});
