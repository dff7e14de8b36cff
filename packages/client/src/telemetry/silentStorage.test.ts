import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { clientFor, Sink, until } from './telemetry.test-helpers.js';

/**
 * A memory outbox whose `size()` never answers: what an IndexedDB outbox did while its database
 * open never settled (Safari's known bug, an upgrade blocked by another connection).
 */
function silentSize(): Outbox {
  const base = createMemoryOutbox();
  return new Proxy(base, {
    get(target, key) {
      if (key === 'size') return () => new Promise(() => undefined);
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Resolves 'late' after `ms` unless `work` settled first ('done'). */
function raceWith(work: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  return Promise.race([work.then(() => 'done' as const), late]).finally(() => clearTimeout(timer));
}

describe('a storage that does not say how much it holds', () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(() => sink.down());

  it('flush({ timeoutMs }) still answers (pending -1), stats() answers (queue null), shutdown ends; the events go out', async () => {
    const outbox = silentSize();
    const t = clientFor(sink, { storage: outbox, delivery: { intervalMs: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) t.track('silent.size', { i });
      const flushed = t.flush({ timeoutMs: 200 });
      // Generous: the size never comes by itself here.
      expect(await raceWith(flushed, 5_000)).toBe('done');
      expect((await flushed).pending).toBe(-1);
      await until(() => sink.acceptedUuids.length >= 3, 10_000, 'the events to be sent');
      const stats = t.stats();
      expect(await raceWith(stats, 10_000)).toBe('done');
      expect((await stats).queue).toBeNull();
      expect((await stats).sent).toBe(3);
      expect(await raceWith(t.shutdown({ timeoutMs: 200 }), 5_000)).toBe('done');
      // After shutdown: flush answers at once, with what it cannot know.
      expect(await t.flush({ timeoutMs: 100 })).toEqual({ sent: 0, pending: -1, timedOut: false });
    } finally {
      await t.shutdown({ timeoutMs: 200 });
      await outbox.close();
    }
  });
});
