import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryClient } from './client.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

/** The functions an app finds on a client object itself (the core's private methods are on its prototype). */
function methodNames(client: object): string[] {
  return Object.getOwnPropertyNames(client).filter(
    (name) => typeof Object.getOwnPropertyDescriptor(client, name)?.value === 'function',
  );
}

/**
 * A method taken off the client (`onClick={telemetry.track}`, `const { track } = telemetry`)
 * works as it does on the client: with telemetry on, the core methods were unbound, and
 * track() threw "Cannot read properties of undefined" where the no-op client did not.
 */
describe('client methods called detached from the client', () => {
  let sink: Sink;
  const clients: TelemetryClient[] = [];
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(async () => {
    for (const c of clients) await c.shutdown({ timeoutMs: 2_000 });
    await sink.down();
  });

  for (const env of [{}, { HOMING_DISABLED: '1' }] as Record<string, string>[]) {
    it(`never throw${'HOMING_DISABLED' in env ? ' (telemetry off)' : ''}: every method, and track delivers`, async () => {
      const client = clientFor(sink, { distinctId: 'u-1' }, env);
      clients.push(client);
      const names = methodNames(client);
      expect(names).toEqual(
        expect.arrayContaining(['track', 'identify', 'flush', 'stats', 'on', 'captureError']),
      );
      const {
        track,
        identify,
        register,
        setConsent,
        reset,
        persist,
        flush,
        stats,
        on,
        captureError,
        timing,
        shutdown,
      } = client;
      expect(() => {
        on('drop', () => {})();
        register({ plan: 'pro' });
        identify('u-2');
        setConsent('granted');
        track('detached.click', { n: 1 });
        captureError(new Error('detached'));
        timing('detached.timing', 5);
      }).not.toThrow();
      await expect(persist()).resolves.toBeUndefined();
      await expect(flush({ timeoutMs: 5_000 })).resolves.toMatchObject({ timedOut: false });
      expect((await stats()).tracked).toBeGreaterThanOrEqual(1);
      if (!('HOMING_DISABLED' in env)) {
        const sent = sinkEvents(sink).filter((e) => e.event === 'detached.click');
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatchObject({ distinct_id: 'u-2', properties: { n: 1, plan: 'pro' } });
      }
      expect(() => reset()).not.toThrow();
      // Every other method too, called bare with no arguments: it may refuse them as documented
      // (registerService throws its typed option error), never fail for want of its client.
      for (const name of names) {
        if (name === 'shutdown') continue;
        const detached = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
        let failure: unknown;
        try {
          const result = detached();
          if (result instanceof Promise) await result.catch((error: unknown) => (failure = error));
        } catch (error) {
          failure = error;
        }
        if (failure !== undefined) {
          expect({ name, failure }).toEqual({
            name,
            failure: expect.objectContaining({ kind: 'invalid-option' }),
          });
        }
      }
      await expect(shutdown({ timeoutMs: 2_000 })).resolves.toBeUndefined();
    });
  }
});
