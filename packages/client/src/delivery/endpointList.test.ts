import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/node.js';
import type { Outbox } from '../outbox/outbox.js';
import { makeRecords, type Sink, startDelivery, track, useCleanups } from './delivery.test-helpers.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { breakerStateKey, ENDPOINTS_STATE_KEY } from './EndpointChannel.js';

const cleanups = useCleanups();

/** A file outbox directory that earlier runs used, and a way to open it as a later run does. */
function outboxDirectory(): { open(): Outbox } {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-endpoint-list-'));
  cleanups.add(async () => rmSync(directory, { recursive: true, force: true }));
  return {
    open() {
      const outbox = createFileOutbox({ directory });
      cleanups.add(() => outbox.close());
      return outbox;
    },
  };
}

/** What 32 earlier runs, each with an endpoint of its own that failed, left in the outbox state. */
async function earlierEndpoints(outbox: Outbox, ids: string[]): Promise<void> {
  for (const id of ids)
    await outbox.setState(breakerStateKey(id), { state: 'closed', breaker: { count: 1 } });
  await outbox.setState(ENDPOINTS_STATE_KEY, ids);
}

/** One run of a client sending to `endpoints`: one event, a flush, then shutdown. */
async function run(
  outbox: Outbox,
  endpoints: Sink[],
  input: Partial<DeliveryOptionsInput> = {},
): Promise<void> {
  const h = startDelivery(
    { endpoints: endpoints.map((s) => ({ destination: 'homing', host: s.url, key: 'k' })), ...input },
    { outbox },
  );
  track(h, makeRecords(1));
  await h.delivery.flush(1_000);
  await h.delivery.shutdown(0);
}

const fakeIds = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `homing:http://127.0.0.1:${20_000 + i}`);

describe('the endpoint list kept in the outbox state (32 at most)', () => {
  it('drops the oldest endpoint for a new one, and removes the breaker it saved, on disk too', async () => {
    const dir = outboxDirectory();
    const earlier = fakeIds(32);
    const outbox = dir.open();
    await earlierEndpoints(outbox, earlier);
    const sink = await cleanups.sink(() => ({ status: 202 }));
    await run(outbox, [sink]);
    await outbox.close();

    const reopened = dir.open();
    expect(await reopened.getState(ENDPOINTS_STATE_KEY)).toEqual([...earlier.slice(1), `homing:${sink.url}`]);
    expect(await reopened.getState(breakerStateKey(earlier[0]!))).toBeUndefined();
    for (const id of earlier.slice(1)) expect(await reopened.getState(breakerStateKey(id))).toBeDefined();
  });

  it('never drops an endpoint the client sends to, nor its breaker, when another is new', async () => {
    const outbox = outboxDirectory().open();
    const listedFirst = await cleanups.sink(() => ({ status: 202 }));
    const added = await cleanups.sink(() => ({ status: 202 }));
    const earlier = [`homing:${listedFirst.url}`, ...fakeIds(31)];
    await earlierEndpoints(outbox, earlier);
    await run(outbox, [listedFirst, added]);
    const listed = await outbox.getState<string[]>(ENDPOINTS_STATE_KEY);
    expect(listed).toHaveLength(32);
    expect(listed).toEqual(expect.arrayContaining([`homing:${listedFirst.url}`, `homing:${added.url}`]));
    expect(listed).not.toContain(earlier[1]);
    expect(await outbox.getState(breakerStateKey(earlier[0]!))).toBeDefined();
    expect(await outbox.getState(breakerStateKey(earlier[1]!))).toBeUndefined();
  });

  it('gives a process that still sends to a dropped endpoint its breaker back at its next failure', async () => {
    const outbox = outboxDirectory().open();
    const down = await cleanups.sink(() => ({ status: 503 }));
    const up = await cleanups.sink(() => ({ status: 202 }));
    const earlier = [`homing:${down.url}`, ...fakeIds(31)];
    await earlierEndpoints(outbox, earlier);
    await run(outbox, [up]);
    expect(await outbox.getState(breakerStateKey(earlier[0]!))).toBeUndefined();

    await run(outbox, [down], { retry: { initialMs: 60_000, maxMs: 60_000 } });
    expect(down.requests.length).toBeGreaterThan(0);
    expect(await outbox.getState(breakerStateKey(earlier[0]!))).toMatchObject({ state: 'closed' });
    expect(await outbox.getState(ENDPOINTS_STATE_KEY)).toContain(earlier[0]);
  });
});
