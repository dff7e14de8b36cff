import { afterEach, describe, expect, it } from 'vitest';
import { fakeHost } from '../performance/fakeHost.test-helpers.js';
import { DeliveryReporter, deliveryReportInterval } from './DeliveryReporter.js';
import { HealthOptionError } from './errors.js';

const open: DeliveryReporter[] = [];
afterEach(() => {
  for (const r of open.splice(0)) r.close();
});

function stats(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tracked: 0,
    sent: 0,
    failedAttempts: 0,
    dropped: { overflow: 0, consent: 0 },
    queue: { events: 0, bytes: 0 },
    ...over,
  };
}

describe('DeliveryReporter', () => {
  it('sends the stats with their growth, and nothing for an interval in which nothing happened', async () => {
    const host = fakeHost();
    let current = stats();
    const r = new DeliveryReporter(host, () => current, 0);
    open.push(r);
    expect(await r.report()).toBe(false);
    current = stats({ tracked: 10, sent: 10 });
    expect(await r.report()).toBe(true);
    // Only its own report was tracked since: quiet.
    current = stats({ tracked: 11, sent: 11 });
    expect(await r.report()).toBe(false);
    current = stats({ tracked: 11, sent: 11, dropped: { overflow: 3, consent: 0 } });
    expect(await r.report()).toBe(true);
    current = stats({ tracked: 12, sent: 11, queue: { events: 1, bytes: 300 }, failedAttempts: 2 });
    expect(await r.report()).toBe(true);
    const sent = host.named('$homing_delivery');
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatchObject({ tracked: 10, delta: { tracked: 10, sent: 10 } });
    expect(sent[1]).toMatchObject({ delta: { tracked: 1, dropped: { overflow: 3, consent: 0 } } });
    expect(sent[2]).toMatchObject({ queue: { events: 1 }, delta: { failedAttempts: 2 } });
  });

  it('is quiet after a report whose own event was dropped on its way in, not after other drops', async () => {
    const host = fakeHost();
    let current = stats({ tracked: 10, sent: 10, dropped: { sampling: 0, overflow: 0 } });
    const r = new DeliveryReporter(host, () => current, 0);
    open.push(r);
    expect(await r.report()).toBe(true);
    // Its own report, sampled out: nothing else happened.
    current = stats({ tracked: 11, sent: 10, dropped: { sampling: 1, overflow: 0 } });
    expect(await r.report()).toBe(false);
    // An app event sampled out beside it: worth a report.
    current = stats({ tracked: 13, sent: 10, dropped: { sampling: 3, overflow: 0 } });
    expect(await r.report()).toBe(true);
    // A queued event dropped (overflow) is always worth one, even with only its own event tracked.
    current = stats({ tracked: 14, sent: 10, dropped: { sampling: 3, overflow: 1 } });
    expect(await r.report()).toBe(true);
    // So is a queued event a denial cleared (consent), though the denial may be over by now.
    current = stats({ tracked: 15, sent: 10, dropped: { sampling: 3, overflow: 1, consent: 1 } });
    expect(await r.report()).toBe(true);
    expect(host.named('$homing_delivery')).toHaveLength(4);
  });

  it('sends nothing while consent is not granted; the first report after a grant covers that time', async () => {
    const host = fakeHost();
    let current = stats({ tracked: 3, consent: 'pending', queue: { events: 3, bytes: 900 } });
    const r = new DeliveryReporter(host, () => current, 0);
    open.push(r);
    expect(await r.report()).toBe(false);
    current = stats({ tracked: 5, consent: 'denied', dropped: { overflow: 0, consent: 5 } });
    expect(await r.report()).toBe(false);
    current = stats({ tracked: 6, sent: 1, consent: 'granted', dropped: { overflow: 0, consent: 5 } });
    expect(await r.report()).toBe(true);
    expect(host.named('$homing_delivery')).toEqual([
      expect.objectContaining({
        delta: expect.objectContaining({ tracked: 6, dropped: { overflow: 0, consent: 5 } }),
      }),
    ]);
  });

  it('reports on its timer, and stops when closed', async () => {
    const host = fakeHost();
    let tracked = 0;
    const r = new DeliveryReporter(host, () => stats({ tracked: (tracked += 5) }), 20);
    open.push(r);
    const deadline = Date.now() + 5_000;
    while (host.named('$homing_delivery').length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(host.named('$homing_delivery').length).toBeGreaterThanOrEqual(2);
    r.close();
    const count = host.named('$homing_delivery').length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(host.named('$homing_delivery')).toHaveLength(count);
    expect(await r.report()).toBe(false);
  });

  it('a stats source that throws or answers junk sends nothing and never throws', async () => {
    const host = fakeHost();
    const throwing = new DeliveryReporter(
      host,
      () => {
        throw new Error('stats broke');
      },
      0,
    );
    const junk = new DeliveryReporter(host, () => 42 as never, 0);
    const rejecting = new DeliveryReporter(host, () => Promise.reject(new Error('no')), 0);
    open.push(throwing, junk, rejecting);
    expect(await throwing.report()).toBe(false);
    expect(await junk.report()).toBe(false);
    expect(await rejecting.report()).toBe(false);
    expect(host.events).toEqual([]);
    expect(host.debug.some((d) => d.message.includes('delivery report skipped'))).toBe(true);
  });

  it('validates its options, naming the bad one', () => {
    expect(deliveryReportInterval(undefined)).toBe(60_000);
    expect(deliveryReportInterval({ intervalMs: 0 })).toBe(0);
    for (const [bad, option] of [
      [{ intervalMs: -1 }, 'deliveryReport.intervalMs'],
      [{ intervalMs: 'often' }, 'deliveryReport.intervalMs'],
      [{ every: 5 }, 'deliveryReport.every'],
      [7, 'deliveryReport'],
    ] as const) {
      expect(() => deliveryReportInterval(bad as never)).toThrow(expect.objectContaining({ option }));
      expect(() => deliveryReportInterval(bad as never)).toThrow(HealthOptionError);
    }
  });
});
