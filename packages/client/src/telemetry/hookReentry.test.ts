import { describe, expect, it } from 'vitest';
import type { HomingEvent } from '../event.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient, TelemetryStats } from './client.js';
import type { TelemetryOptions } from './options.js';

/**
 * An app hook that tracks (a `beforeSend` tracking an audit event) ran itself again for that
 * event, which tracked again, until the stack ran out: one app call became ~850 events, ~35 of
 * them counted as tracked but neither sent nor dropped.
 */
async function run(
  hookOptions: (
    track: (name: string) => void,
    depth: { now: number; deepest: number },
  ) => Partial<TelemetryOptions>,
  track: (t: TelemetryClient) => void,
) {
  const received: HomingEvent[] = [];
  const warnings: string[] = [];
  const drops: { reason: string; detail?: string | undefined }[] = [];
  const client: { t?: TelemetryClient } = {};
  const depth = { now: 0, deepest: 0 };
  const inHook = (name: string): void => {
    depth.now++;
    depth.deepest = Math.max(depth.deepest, depth.now);
    try {
      client.t?.track(name, { from: 'a hook' });
    } finally {
      depth.now--;
    }
  };
  const t = createTelemetry({
    storage: 'memory',
    deliveryReport: false,
    endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
    logger: { debug() {}, warn: (message) => void warnings.push(message), error() {} },
    ...hookOptions(inHook, depth),
  });
  client.t = t;
  t.on('drop', (d) => void drops.push({ reason: d.reason, detail: d.detail }));
  track(t);
  await t.shutdown({ timeoutMs: 3_000 });
  return { received, warnings, drops, deepest: depth.deepest, stats: await t.stats() };
}

const droppedIn = (stats: TelemetryStats): number =>
  Object.values(stats.dropped).reduce((sum, n) => sum + n, 0);

describe('an app hook that tracks', () => {
  it.each([
    [
      'beforeSend',
      (track: (name: string) => void) => ({
        beforeSend: (e: HomingEvent) => {
          track('audit.sent');
          return e;
        },
      }),
    ],
    [
      'redaction.custom',
      (track: (name: string) => void) => ({
        redaction: {
          custom: (p: Record<string, unknown>) => {
            track('audit.redacted');
            return p;
          },
        },
      }),
    ],
    [
      'redaction.patterns.redact',
      (track: (name: string) => void) => ({
        redaction: {
          patterns: {
            redact: (value: string) => {
              track('audit.redacted');
              return value;
            },
          },
        },
      }),
    ],
  ])(
    '%s: the event it tracks is dropped (rejected), not run through it again; warned once',
    async (hook, options) => {
      const r = await run(options, (t) => {
        t.track('purchase', { item: 'book' });
        t.track('purchase', { item: 'pen' });
      });
      expect(r.received.map((e) => e.event)).toEqual(['purchase', 'purchase']);
      expect(r.deepest).toBe(1);
      expect(r.stats.tracked).toBe(4);
      expect(r.stats.sent).toBe(2);
      expect(r.stats.dropped.rejected).toBe(2);
      expect(r.drops).toEqual([
        { reason: 'rejected', detail: `tracked inside ${hook}` },
        { reason: 'rejected', detail: `tracked inside ${hook}` },
      ]);
      expect(r.warnings.filter((w) => w.includes(`tracked inside ${hook}`))).toHaveLength(1);
    },
  );

  it('a `now` clock that tracks: never more than one level deep, and every event counted', async () => {
    let readings = 0;
    const r = await run(
      (track) => ({
        now: () => {
          // Bounded for the test's sake: before, this recursed for as long as it tracked.
          if (++readings <= 2_000) track('clock.read');
          return Date.now();
        },
      }),
      (t) => t.track('purchase'),
    );
    expect(r.deepest).toBe(1);
    expect(r.received.map((e) => e.event)).toContain('purchase');
    expect(r.stats.tracked).toBe(r.stats.sent + droppedIn(r.stats));
  });

  it('every event counted when the app calls track() with the stack nearly exhausted', async () => {
    for (const options of [{}, { beforeSend: (e: HomingEvent) => e }]) {
      const r = await run(
        () => options,
        (t) => {
          // Tracks on the way back from recursing until the stack ran out: at the deepest levels
          // the pipeline itself runs out of stack, at different points.
          const down = (): void => {
            try {
              down();
            } catch {}
            try {
              t.track('deep', { a: 1 });
            } catch {}
          };
          down();
        },
      );
      expect(r.stats.sent).toBeGreaterThan(1_000);
      expect(r.stats.tracked).toBe(r.stats.sent + droppedIn(r.stats));
    }
  });
});
