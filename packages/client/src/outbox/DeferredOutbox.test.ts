import { describe, expect, it } from 'vitest';
import { createMemoryOutbox } from './memory.js';
import { describeOutboxContract, drain, makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxDrop } from './outbox.js';
import { DeferredOutbox } from './DeferredOutbox.js';

/** A load that resolves only after a few turns, so calls really are made before it is there. */
function slowly(outbox: Outbox): () => Promise<Outbox> {
  return async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    return outbox;
  };
}

describeOutboxContract('DeferredOutbox over MemoryOutbox', {
  persistent: false,
  async create(options) {
    const inner = createMemoryOutbox({ ...options.limits, ...(options.now ? { now: options.now } : {}) });
    const outbox = new DeferredOutbox(slowly(inner), () => createMemoryOutbox());
    // The contract checks drops right after an append: hand over once loaded.
    await outbox.whenLoaded();
    return { outbox, dispose: () => outbox.close() };
  },
});

describe('DeferredOutbox while loading', () => {
  it('keeps appends made before the load, in order, and every call waits for the load', async () => {
    const outbox = new DeferredOutbox(slowly(createMemoryOutbox()), () => createMemoryOutbox());
    const records = makeRecords(6);
    outbox.append(records.slice(0, 3));
    outbox.append([]);
    outbox.append(null as never);
    const sized = outbox.size();
    outbox.append(records.slice(3));
    expect((await sized).events).toBe(6);
    expect(await drain(outbox)).toEqual(records.map((r) => r.uuid));
    await outbox.close();
  });

  it('reports drops of appends made before the load to listeners subscribed before it', async () => {
    const drops: OutboxDrop[] = [];
    const outbox = new DeferredOutbox(slowly(createMemoryOutbox({ maxEvents: 2 })), () =>
      createMemoryOutbox(),
    );
    const off = outbox.onDrop((d) => drops.push(d));
    outbox.onDrop(() => {
      throw new Error('a broken listener');
    });
    outbox.append(makeRecords(5));
    await outbox.whenLoaded();
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(3);
    off();
    outbox.append(makeRecords(5));
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(3);
    await outbox.close();
  });

  it('uses the fallback when the load rejects or the factory throws', async () => {
    for (const load of [
      () => Promise.reject(new Error('no module')),
      () => {
        throw new TypeError('bad directory');
      },
    ]) {
      const outbox = new DeferredOutbox(load as () => Promise<Outbox>, () => createMemoryOutbox());
      outbox.append(makeRecords(2));
      expect(await drain(outbox)).toHaveLength(2);
      expect(outbox.loadError).toBeInstanceOf(Error);
      await outbox.close();
    }
  });

  it('close before the load closes the storage once it is there', async () => {
    const inner = createMemoryOutbox();
    const outbox = new DeferredOutbox(slowly(inner), () => createMemoryOutbox());
    await outbox.close();
    expect(await inner.claim(10, 1e6)).toBeNull();
    await expect(inner.size()).rejects.toMatchObject({ kind: 'closed' });
  });
});
