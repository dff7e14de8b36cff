import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/node.js';
import type { Outbox } from '../outbox/outbox.js';
import {
  makeRecords,
  type Sink,
  type SinkHandler,
  startDelivery,
  track,
  until,
  useCleanups,
} from './delivery.test-helpers.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { ENDPOINTS_STATE_KEY } from './EndpointChannel.js';
import { savedServerWaitAt, serverWaitStateKey } from './savedServerWait.js';

const cleanups = useCleanups();

function fileOutbox(): Outbox {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-server-wait-'));
  cleanups.add(async () => rmSync(directory, { recursive: true, force: true }));
  const outbox = createFileOutbox({ directory });
  cleanups.add(() => outbox.close());
  return outbox;
}

/**
 * One short run, as a CLI's: a fresh delivery on the outbox an earlier run left, one event, a
 * flush that does not wait long, then shutdown. Answers the stats before shutdown.
 */
async function run(outbox: Outbox, sink: Sink, input: Partial<DeliveryOptionsInput> = {}) {
  const h = startDelivery(
    { endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }], ...input },
    { outbox },
  );
  track(h, makeRecords(1));
  await h.delivery.flush(300);
  const stats = h.delivery.stats();
  await h.delivery.shutdown(0);
  return stats;
}

const endpointId = (sink: Sink): string => `homing:${sink.url}`;

/**
 * A 429 or 503 with Retry-After asks for quiet for a while. The breaker alone does not carry
 * that to the next process (a 429 never counts against it), so each CLI run sent its backlog to
 * a server that had asked it to wait two minutes.
 */
describe('a wait the endpoint asked for holds for the next process', () => {
  for (const status of [429, 503]) {
    it(`${status} with Retry-After: 120: the next run sends nothing, and says when it will`, async () => {
      const outbox = fileOutbox();
      const sink = await cleanups.sink(() => ({ status, headers: { 'retry-after': '120' } }));
      await run(outbox, sink);
      expect(sink.requests).toHaveLength(1);
      const before = Date.now();
      const second = await run(outbox, sink);
      expect(sink.requests).toHaveLength(1);
      const retryAt = second.breakers[endpointId(sink)]!.retryAtMs!;
      expect(retryAt).toBeGreaterThan(before + 100_000);
      expect(retryAt).toBeLessThanOrEqual(Date.now() + 120_000);
      expect((await outbox.size()).events).toBe(2);
    });
  }

  it('a 429 without Retry-After: the backoff it waits is kept for the next run too', async () => {
    const outbox = fileOutbox();
    const sink = await cleanups.sink(() => ({ status: 429 }));
    const before = Date.now();
    // Sent at once (intervalMs 0), stopped once answered: the backoff (full jitter) is not waited.
    const h = startDelivery(
      { endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }], intervalMs: 0 },
      { outbox },
    );
    track(h, makeRecords(1));
    await until(() => h.delivery.stats().failedAttempts === 1, 10_000, 'the 429');
    await h.delivery.shutdown(0);
    const saved = await outbox.getState<{ untilMs: number; waitMs: number }>(
      serverWaitStateKey(endpointId(sink)),
    );
    expect(saved?.untilMs).toBeGreaterThanOrEqual(before);
    expect(saved!.untilMs - saved!.waitMs).toBeGreaterThanOrEqual(before);
  });

  it('a refused connection (no answer, no ask): the next run tries at once, as before', async () => {
    const outbox = fileOutbox();
    const sink = await cleanups.sink(() => 'reset');
    await run(outbox, sink);
    const afterFirst = sink.requests.length;
    await run(outbox, sink);
    expect(sink.requests.length).toBeGreaterThan(afterFirst);
    expect(await outbox.getState(serverWaitStateKey(endpointId(sink)))).toBeUndefined();
  });

  it('is forgotten once the endpoint accepts: a later run sends at once', async () => {
    const outbox = fileOutbox();
    let answer: 'busy' | 'ok' = 'busy';
    const handler: SinkHandler = () =>
      answer === 'busy' ? { status: 503, headers: { 'retry-after': '1' } } : { status: 202 };
    const sink = await cleanups.sink(handler);
    await run(outbox, sink);
    expect(await outbox.getState(serverWaitStateKey(endpointId(sink)))).toBeDefined();
    answer = 'ok';
    // Within the second it asked for: this run waits it out (flush budget), then sends both.
    const h = startDelivery({ endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }] }, { outbox });
    await h.delivery.flush(5_000);
    await h.delivery.shutdown(0);
    expect(sink.acceptedUuids).toHaveLength(1);
    expect(await outbox.getState(serverWaitStateKey(endpointId(sink)))).toBeUndefined();
    await run(outbox, sink);
    expect(sink.acceptedUuids).toHaveLength(2);
  });

  it('a saved wait longer than the app allows (maxRetryAfterMs) or damaged is cut or ignored', async () => {
    const outbox = fileOutbox();
    const sink = await cleanups.sink(() => ({ status: 202 }));
    const key = serverWaitStateKey(endpointId(sink));
    // A year, from a hand-edited file or a clock that was far ahead: held to the app's 5 s.
    await outbox.setState(key, { untilMs: Date.now() + 365 * 86_400_000, waitMs: 365 * 86_400_000 });
    const held = await run(outbox, sink, { maxRetryAfterMs: 5_000 });
    expect(sink.requests).toHaveLength(0);
    expect(held.breakers[endpointId(sink)]!.retryAtMs!).toBeLessThanOrEqual(Date.now() + 5_000);
    for (const damaged of ['soon', { untilMs: 'x' }, { untilMs: Date.now() + 60_000, waitMs: -1 }, null]) {
      await outbox.setState(key, damaged);
      await run(outbox, sink);
    }
    expect(sink.requests).toHaveLength(4);
  });

  it('goes with its endpoint when the endpoint list drops it', async () => {
    const outbox = fileOutbox();
    const gone = 'homing:http://127.0.0.1:20000';
    await outbox.setState(serverWaitStateKey(gone), { untilMs: Date.now() + 60_000, waitMs: 60_000 });
    await outbox.setState(
      ENDPOINTS_STATE_KEY,
      Array.from({ length: 32 }, (_, i) => `homing:http://127.0.0.1:${20_000 + i}`),
    );
    const sink = await cleanups.sink(() => ({ status: 202 }));
    await run(outbox, sink);
    expect(await outbox.getState(serverWaitStateKey(gone))).toBeUndefined();
  });
});

describe('savedServerWaitAt', () => {
  const now = 1_800_000_000_000;
  it('answers the wait still in force, cut to its own length and to the most allowed', () => {
    expect(savedServerWaitAt({ untilMs: now + 1_000, waitMs: 5_000 }, now, 300_000)).toEqual({
      untilMs: now + 1_000,
      waitMs: 5_000,
    });
    // A clock stepped back since: never longer than the wait was.
    expect(savedServerWaitAt({ untilMs: now + 60_000, waitMs: 5_000 }, now, 300_000)).toEqual({
      untilMs: now + 5_000,
      waitMs: 5_000,
    });
    expect(savedServerWaitAt({ untilMs: now + 60_000, waitMs: 60_000 }, now, 10_000)?.untilMs).toBe(
      now + 10_000,
    );
  });

  it('answers null for a wait that is over, and for anything that is not one', () => {
    for (const saved of [
      { untilMs: now, waitMs: 5_000 },
      { untilMs: now - 1, waitMs: 5_000 },
      { untilMs: Number.POSITIVE_INFINITY, waitMs: 5_000 },
      { untilMs: now + 1_000, waitMs: Number.NaN },
      { untilMs: now + 1_000, waitMs: 0 },
      { untilMs: `${now + 1_000}`, waitMs: 5_000 },
      [now + 1_000, 5_000],
      'later',
      42,
      null,
      undefined,
    ])
      expect(savedServerWaitAt(saved, now, 300_000)).toBeNull();
  });
});
