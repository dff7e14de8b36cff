import { describe, expect, it } from 'vitest';
import type { HomingEvent } from '../event.js';
import { capturingClient } from './telemetry.test-helpers.js';
import { MAX_EVENT_NAME_LENGTH } from '../pipeline/eventName.js';
import type { TelemetryClient } from './client.js';
import type { TelemetryOptions } from './options.js';

async function sent(track: (t: TelemetryClient) => void, options: Partial<TelemetryOptions> = {}) {
  const { client: t, received } = capturingClient(options);
  track(t);
  await t.shutdown({ timeoutMs: 1_000 });
  return received;
}

describe('redaction of event names and property names', () => {
  it.each([
    ['without beforeSend', {}],
    ['with beforeSend', { beforeSend: (e: HomingEvent) => e }],
  ])('redacts PII in event names, keys and Map keys (%s)', async (_n, options) => {
    const [inPlace, cloned] = await sent((t) => {
      // Plain data, read in place: its keys are checked with its strings.
      t.track('user bob@example.com signed up', { counts: { 'alice@example.com': 3, '10.1.2.3': 1 } });
      // A Map: cloned, its keys become object keys.
      t.track('export', { m: new Map([['carol@example.com', 1]]) });
    }, options);
    expect(inPlace?.event).toBe('user [REDACTED] signed up');
    expect(inPlace?.properties.counts).toEqual({ '[REDACTED]': 3, '[REDACTED]#2': 1 });
    expect(cloned?.event).toBe('export');
    expect(cloned?.properties.m).toEqual({ '[REDACTED]': 1 });
  });

  it('keeps the name the app gave when it holds no PII, and within the length limit when one grows', async () => {
    const long = `${'x'.repeat(MAX_EVENT_NAME_LENGTH - 8)} a@b.io`;
    const events = await sent(
      (t) => {
        t.track('button.clicked', { plan: 'pro' });
        t.track(long);
      },
      { redaction: { patterns: { labels: true } } },
    );
    expect(events.map((e) => e.event)).toEqual([
      'button.clicked',
      `${'x'.repeat(MAX_EVENT_NAME_LENGTH - 8)} [REDACTED:email]`.slice(0, MAX_EVENT_NAME_LENGTH),
    ]);
  });

  it('leaves names alone when redaction is off', async () => {
    const [e] = await sent((t) => t.track('user bob@example.com', { 'a@b.io': 1 }), { redaction: false });
    expect(e?.event).toBe('user bob@example.com');
    expect(e?.properties['a@b.io']).toBe(1);
  });

  it('turns a pattern off as the README writes it, redaction: { patterns: { homePath: false } }', async () => {
    const [kept] = await sent(
      (t) => t.track('cwd', { cwd: '/home/alice/projects/app', mail: 'a@example.com' }),
      {
        redaction: { patterns: { homePath: false } },
      },
    );
    expect(kept?.properties).toMatchObject({ cwd: '/home/alice/projects/app', mail: '[REDACTED]' });
  });
});
