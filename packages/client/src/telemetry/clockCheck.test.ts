import { describe, expect, it } from 'vitest';
import type { Logger } from '../logger.js';
import { MAX_UUID_MS } from '../pipeline/uuidv7.js';
import { useUnhandledRejections } from '../unhandledRejections.test-helpers.js';
import { capturingClient } from './telemetry.test-helpers.js';

const uuidMs = (id: string): number => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe('the `now` option', () => {
  it.each([
    ['microseconds', () => Date.now() * 1000],
    ['NaN', () => Number.NaN],
    ['9e15', () => 9e15],
    ['negative', () => -1],
    ['a string', () => '1700000000000' as unknown as number],
    [
      'throwing',
      (): number => {
        throw new Error('no clock');
      },
    ],
  ])('a clock that answers no usable time at the start (%s) is refused, naming now', (_name, now) => {
    expect(() => capturingClient({ now })).toThrow(
      expect.objectContaining({ kind: 'telemetry-option', option: 'now' }),
    );
  });

  it('one going wrong later: those events get Date.now() (one warning), and a second client in the process keeps real uuids', async () => {
    const warnings: string[] = [];
    const logger: Logger = { debug: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
    let broken = false;
    const a = capturingClient({ logger, now: () => (broken ? Date.now() * 1000 : Date.now()) });
    a.client.track('fine');
    broken = true;
    a.client.track('bad.1');
    a.client.track('bad.2');
    const b = capturingClient();
    const before = Date.now();
    b.client.track('other');
    await a.client.flush({ timeoutMs: 5_000 });
    await b.client.flush({ timeoutMs: 5_000 });
    await a.client.shutdown({ timeoutMs: 0 });
    await b.client.shutdown({ timeoutMs: 0 });
    expect(a.received.map((e) => e.event)).toEqual(['fine', 'bad.1', 'bad.2']);
    for (const e of [...a.received, ...b.received]) {
      expect(Date.parse(e.timestamp)).toBeLessThan(MAX_UUID_MS);
      expect(uuidMs(e.uuid)).toBeLessThan(Date.now() + 60_000);
    }
    expect(uuidMs(b.received[0]!.uuid)).toBeGreaterThanOrEqual(before);
    expect(warnings.filter((w) => w.includes('`now`'))).toHaveLength(1);
  });

  it.each([
    ['seconds', () => Date.now() / 1000, 1],
    ['milliseconds', () => Date.now(), 0],
  ])(
    'a clock far from Date.now() at the start (%s) is accepted, with one warning',
    async (_name, now, count) => {
      const warnings: string[] = [];
      const logger: Logger = { debug: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
      const { client, received } = capturingClient({ logger, now });
      client.track('one');
      client.track('two');
      await client.flush({ timeoutMs: 5_000 });
      await client.shutdown({ timeoutMs: 0 });
      expect(received.map((e) => e.event)).toEqual(['one', 'two']);
      expect(warnings.filter((w) => w.includes('more than a year'))).toHaveLength(count);
    },
  );

  describe('an async clock', () => {
    const unhandled = useUnhandledRejections();
    const rejecting = (() => Promise.reject(new Error('no clock'))) as unknown as () => number;

    it('at the start: refused, naming now, and its rejection never reaches the host', async () => {
      expect(() => capturingClient({ now: rejecting })).toThrow(
        expect.objectContaining({ kind: 'telemetry-option', option: 'now' }),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    });

    it('later: the events get Date.now(), and its rejection never reaches the host', async () => {
      let async = false;
      const { client, received } = capturingClient({
        now: () => (async ? rejecting() : Date.now()),
      });
      async = true;
      client.track('one');
      await client.flush({ timeoutMs: 5_000 });
      await client.shutdown({ timeoutMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received.map((e) => e.event)).toEqual(['one']);
      expect(unhandled).toEqual([]);
    });
  });
});
