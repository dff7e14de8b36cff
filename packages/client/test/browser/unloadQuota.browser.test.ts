/**
 * Chromium's keepalive quota: at most 64 KiB of keepalive bodies (sendBeacon included) in
 * flight per page. A page hidden, shown and hidden again while its first unload request is still
 * on its way (the server slow to answer) sent a second one of a full 64 KB budget, which Chromium
 * rejected ("Failed to fetch"): its events only arrived on the next visit. Each unload send is
 * now sized to what the earlier ones left; what does not fit stays in the outbox.
 */
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();
const QUOTA = 64 * 1024;

declare const homing: PageHoming;

describe.skipIf(!available)('unload sends within the keepalive quota in Chromium', () => {
  it('a second unload send while the first is in flight stays within what is left of 64 KiB and is not rejected', async () => {
    const { sink } = suite;
    let release!: () => void;
    sink.hold = new Promise<void>((resolve) => (release = resolve));
    try {
      const page = await suite.openPage();
      const name = `quota-${Date.now()}`;
      const log = await page.evaluate(
        async ({ host, n }) => {
          const sent: Array<{ bytes: number; outcome: string }> = [];
          const fetch = window.fetch;
          window.fetch = function (url: RequestInfo | URL, init?: RequestInit) {
            const answer = fetch.call(window, url, init);
            if (init?.keepalive === true) {
              const entry = { bytes: new TextEncoder().encode(String(init.body)).length, outcome: 'pending' };
              sent.push(entry);
              answer.then(
                (res) => (entry.outcome = `status ${res.status}`),
                () => (entry.outcome = 'rejected'),
              );
            }
            return answer;
          };
          const client = homing.telemetry(
            {
              name: n,
              endpoints: [{ destination: 'homing', host, key: 'project-key' }],
              delivery: { intervalMs: 600_000 },
            },
            [],
          );
          await client.flush({ timeoutMs: 10_000 });
          const visibility = (state: string): void => {
            Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
          };
          const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          for (let i = 0; i < 400; i++) client.track('backlog', { i, pad: 'p'.repeat(200) });
          await pause(300);
          visibility('hidden');
          await pause(300);
          visibility('visible');
          client.track('after.show', { pad: 'z'.repeat(100) });
          await pause(50);
          visibility('hidden');
          await pause(500);
          return sent.map((s) => ({ ...s }));
        },
        { host: sink.url, n: name },
      );
      // The first took the whole budget; the second had no room or only what was left.
      expect(log.length).toBeGreaterThan(0);
      expect(log.map((s) => s.outcome)).not.toContain('rejected');
      expect(log.reduce((sum, s) => sum + s.bytes, 0)).toBeLessThanOrEqual(QUOTA);
    } finally {
      release();
      sink.hold = undefined;
    }
  });
});
