import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../logger.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { OutboxRecord } from '../outbox/outbox.js';
import {
  makeRecords,
  startDelivery,
  testPlatform,
  track,
  until,
  useCleanups,
} from './delivery.test-helpers.js';
import { resolveDeliveryOptions, withWaitFloors, type DeliveryOptionsInput } from './deliveryOptions.js';
import { EndpointChannel } from './EndpointChannel.js';

const DAY_MS = 86_400_000;
const cleanups = useCleanups();

afterEach(() => {
  vi.restoreAllMocks();
});

/** Date.now() from here on is the real time plus an offset the test sets (a stepped system clock). */
function steppableWallClock(): { step: (byMs: number) => void } {
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
  return { step: (byMs) => void (offsetMs += byMs) };
}

/** A custom endpoint that fails while `down` is true. */
function flakyEndpoint(): {
  input: DeliveryOptionsInput['endpoints'][number];
  state: { down: boolean; received: number };
} {
  const state = { down: true, received: 0 };
  return {
    state,
    input: {
      destination: 'custom',
      name: 'flaky',
      send: async (events) => {
        if (state.down) throw new Error('503 down');
        state.received += events.length;
      },
    },
  };
}

function channelFor(input: Omit<DeliveryOptionsInput, 'endpoints'>): {
  channel: EndpointChannel;
  state: { down: boolean; received: number };
} {
  const { input: endpoint, state } = flakyEndpoint();
  const options = withWaitFloors(resolveDeliveryOptions({ ...input, endpoints: [endpoint] }));
  const channel = new EndpointChannel(options.endpoints[0]!, options, {
    outbox: createMemoryOutbox(),
    platform: testPlatform(),
    logger: silentLogger,
    emit: () => {},
  });
  return { channel, state };
}

const records: OutboxRecord[] = makeRecords(1);
const neverCancelled = new AbortController().signal;

/**
 * The waits of a failing endpoint end at wall-clock times (the breaker's are saved for later
 * processes). A clock stepped back must not hold them for the size of the step: a day back
 * stalled delivery for a day.
 */
describe('a wall clock stepped back', () => {
  it('holds a retry backoff no longer than its own length from now', () => {
    const { channel } = channelFor({ retry: { initialMs: 1_000, maxMs: 1_000 } });
    const t = 1_700_000_000_000;
    const waitMs = channel.settle({ kind: 'failed', failure: 'retryable', reason: '503' }, t);
    expect(waitMs).toBeLessThanOrEqual(1_000);
    const back = t - DAY_MS;
    expect(channel.readyAt(back)).toBeLessThanOrEqual(back + 1_000);
    expect(channel.snapshot(back).retryAtMs ?? back).toBeLessThanOrEqual(back + 1_000);
    expect(channel.isReady(back + 1_000)).toBe(true);
  });

  it('holds a Retry-After wait no longer than its own length from now', () => {
    const { channel } = channelFor({ retry: { initialMs: 100, maxMs: 100 } });
    const t = 1_700_000_000_000;
    const waitMs = channel.settle(
      { kind: 'failed', failure: 'rate-limited', reason: '429', retryAfterMs: 5_000 },
      t,
    );
    expect(waitMs).toBe(5_000);
    const back = t - DAY_MS;
    expect(channel.readyAt(back)).toBe(back + 5_000);
    expect(channel.isReady(back + 5_000)).toBe(true);
  });

  it('holds the wait after a refusal no longer than its own length from now', () => {
    const { channel } = channelFor({ retry: { initialMs: 1_000, maxMs: 1_000 } });
    const t = 1_700_000_000_000;
    channel.waitAfterRefusal(t);
    const back = t - DAY_MS;
    expect(channel.readyAt(back)).toBeLessThanOrEqual(back + 1_000);
    expect(channel.isReady(back + 1_000)).toBe(true);
  });

  it('holds an open breaker no longer than halfOpenAfterMs from now, and its probe then goes out', async () => {
    const wall = steppableWallClock();
    const { channel, state } = channelFor({
      retry: { initialMs: 100, maxMs: 100 },
      breaker: { threshold: 1, halfOpenAfterMs: 200 },
    });
    cleanups.add(async () => channel.dispose());
    const failed = await channel.attempt(records, new Date().toISOString(), neverCancelled);
    expect(failed.kind).toBe('failed');
    expect(channel.state).toBe('open');

    wall.step(-DAY_MS);
    state.down = false;
    const readyAt = channel.readyAt(Date.now());
    expect(readyAt).toBeLessThanOrEqual(Date.now() + 200);
    expect(channel.snapshot(Date.now()).openUntilMs).toBeLessThanOrEqual(Date.now() + 200);

    // Generous: ready as soon as the 200 ms open period is over.
    await until(() => channel.isReady(Date.now()), 10_000, 'the open period to end');
    const probe = await channel.attempt(records, new Date().toISOString(), neverCancelled);
    expect(probe.kind).toBe('accepted');
    expect(channel.state).toBe('closed');
    expect(state.received).toBe(1);
  });

  it('a flush after the endpoint recovered sends: the open breaker waits out halfOpenAfterMs, not the step', async () => {
    const wall = steppableWallClock();
    const { input: endpoint, state } = flakyEndpoint();
    const h = startDelivery({
      endpoints: [endpoint],
      intervalMs: 60_000,
      retry: { initialMs: 100, maxMs: 100 },
      breaker: { threshold: 1, halfOpenAfterMs: 300 },
    });
    cleanups.add(() => h.delivery.shutdown(0));
    track(h, makeRecords(1));
    const first = await h.delivery.flush(50);
    expect(first.sent).toBe(0);
    expect(h.delivery.stats().breakers['flaky']?.state).toBe('open');

    wall.step(-DAY_MS);
    state.down = false;
    // Generous: done as soon as the 300 ms open period is over.
    const second = await h.delivery.flush(20_000);
    expect(second).toMatchObject({ sent: 1, pending: 0 });
    expect(state.received).toBe(1);
  });
});

describe('a wall clock stepped forward', () => {
  it('does not end a flush before its budget: the retry that fits in it is waited for', async () => {
    const wall = steppableWallClock();
    const state = { attempts: 0, received: 0 };
    const h = startDelivery({
      endpoints: [
        {
          destination: 'custom',
          name: 'once-failing',
          send: async (events) => {
            if (++state.attempts === 1) {
              // The clock steps an hour ahead just as the first attempt fails.
              wall.step(3_600_000);
              throw new Error('503 down');
            }
            state.received += events.length;
          },
        },
      ],
      intervalMs: 60_000,
      retry: { initialMs: 200, maxMs: 200 },
    });
    cleanups.add(() => h.delivery.shutdown(0));
    track(h, makeRecords(1));
    // Generous: done as soon as the retry (under 200 ms) went out.
    const result = await h.delivery.flush(20_000);
    expect(result).toMatchObject({ sent: 1, pending: 0, timedOut: false });
    expect(state.attempts).toBe(2);
  });
});
