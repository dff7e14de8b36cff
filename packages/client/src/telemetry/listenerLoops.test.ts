import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import { clientFor, Sink, sinkEvents, sinkForSuite } from './telemetry.test-helpers.js';

/**
 * Apps react to the client's own events by tracking (a metric per batch sent, an event per
 * drop). Each such event must wait for its batch like any other: before, a `sent` listener that
 * tracked made a request per event, back to back, for as long as the process lived (16 000 in
 * 10 s), and a `drop` listener whose event was dropped too never returned to the app.
 */
describe('listeners that track', () => {
  let sink: Sink;
  const clients: TelemetryClient[] = [];
  sinkForSuite(clients, (s) => (sink = s));

  it('a sent listener that tracks: its events wait for the next batch; flush sends what was there, not what it causes', async () => {
    const t = clientFor(sink, { delivery: { intervalMs: 60_000 } });
    clients.push(t);
    t.on('sent', (e) => t.track('telemetry.batch_sent', { count: e.count }));
    t.track('app.start');
    const started = Date.now();
    const result = await t.flush({ timeoutMs: 5_000 });
    // What was queued, and at most a batch or two of what the listener tracked meanwhile (each
    // drain takes one batch of events tracked since it began); before, it sent an event a
    // request until its 5 s ran out.
    expect(result.timedOut).toBe(false);
    expect(result.sent).toBeGreaterThanOrEqual(1);
    expect(result.sent).toBeLessThanOrEqual(4);
    expect(Date.now() - started).toBeLessThan(4_000);
    const requests = sink.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The event the listener tracked last waits for the interval (a minute) or the next flush.
    expect(sink.requests).toHaveLength(requests);
    expect(sinkEvents(sink)[0]!.event).toBe('app.start');
    expect(
      new Set(
        sinkEvents(sink)
          .slice(1)
          .map((e) => e.event),
      ),
    ).toEqual(new Set(['telemetry.batch_sent']));
  });

  it('a sent listener that tracks, with the interval short: one request an interval, not one a round trip', async () => {
    const t = clientFor(sink, { delivery: { intervalMs: 200 } });
    clients.push(t);
    t.on('sent', (e) => t.track('telemetry.batch_sent', { count: e.count }));
    t.track('app.start');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // About one an interval (5 in 1.1 s); before, thousands.
    expect(sink.requests.length).toBeGreaterThanOrEqual(2);
    expect(sink.requests.length).toBeLessThanOrEqual(20);
  });

  it('a drop listener that tracks an event dropped too: each drop heard once, and it ends, warned once', async () => {
    const warnings: string[] = [];
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => undefined }],
      storage: 'memory',
      sampling: { default: { kind: 'never' } },
      logger: { debug() {}, warn: (message) => warnings.push(message), error() {} },
    });
    clients.push(t);
    let heard = 0;
    t.on('drop', (e) => {
      heard++;
      t.track('telemetry.dropped', { reason: e.reason });
    });
    for (let i = 0; i < 10; i++) t.track('e');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toBe(10);
    expect(warnings.filter((w) => w.includes('"drop" listener caused another "drop" event'))).toHaveLength(1);
  });

  it('on() with a name the client does not emit, or no function, is ignored and said', () => {
    const warnings: string[] = [];
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => undefined }],
      storage: 'memory',
      logger: { debug() {}, warn: (message) => warnings.push(message), error() {} },
    });
    clients.push(t);
    expect(typeof t.on('Sent' as never, () => {})).toBe('function');
    expect(typeof t.on('drop', 'listener' as never)).toBe('function');
    expect(warnings).toEqual([
      'on("Sent") ignored: not an event of the client (drop, sent, delivery-error, dead-letter, breaker-state)',
      'on("drop") ignored: its listener is "listener", not a function',
    ]);
  });
});
