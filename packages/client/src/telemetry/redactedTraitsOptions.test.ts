import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HomingEvent } from '../event.js';
import type { TelemetryOptions } from './options.js';
import { clientFor, Sink } from './telemetry.test-helpers.js';

/** What PostHog's `$set` and Segment's `traits` get for one identify() under these redaction options. */
describe("identify traits redaction replaced, with the app's redaction options, to PostHog and Segment", () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(() => sink.down());

  async function sent(
    destination: 'posthog' | 'segment',
    redaction: TelemetryOptions['redaction'],
    traits: Record<string, unknown> = { phone: '+1 415 555 0100', name: 'Ann', plan: 'pro' },
  ): Promise<Record<string, unknown>> {
    const before = sink.requests.length;
    const client = clientFor(sink, {
      endpoints: [{ destination, host: sink.url, key: 'k' }],
      redaction,
    });
    client.identify('user-1', traits);
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 0 });
    const bodies = sink.requests.slice(before).map((r) => JSON.parse(r.text) as { batch: unknown[] });
    const [message] = bodies.flatMap((b) => b.batch) as Array<HomingEvent & { traits?: object }>;
    return (destination === 'posthog' ? message!.properties.$set : message!.traits) as Record<
      string,
      unknown
    >;
  }

  for (const destination of ['posthog', 'segment'] as const) {
    it(`${destination}: a labelled replacement ([REDACTED:phone]) and the app's own replacement are left out`, async () => {
      expect(await sent(destination, { patterns: { labels: true } })).toEqual({ name: 'Ann', plan: 'pro' });
      expect(await sent(destination, { patterns: { replacement: '***' } })).toEqual({
        name: 'Ann',
        plan: 'pro',
      });
      expect(await sent(destination, { patterns: { replacement: '' } })).toEqual({
        name: 'Ann',
        plan: 'pro',
      });
      expect(await sent(destination, { hashKey: 'k' }, { email: 'ann@example.com', name: 'Ann' })).toEqual({
        name: 'Ann',
      });
      // Whatever options redacted them: an event may wait in the outbox for a run with other ones.
      const own = { note: '[REDACTED:by user]', ref: '[HASH:0123456789abcdef]', name: 'Ann' };
      expect(await sent(destination, { patterns: { replacement: '***' } }, own)).toEqual({ name: 'Ann' });
      // Without pattern redaction nothing was replaced: the phone goes as it is.
      expect(await sent(destination, { patterns: false })).toEqual({
        phone: '+1 415 555 0100',
        name: 'Ann',
        plan: 'pro',
      });
    });
  }
});
