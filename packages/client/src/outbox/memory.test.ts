import { describe, expect, it } from 'vitest';
import { OutboxOptionError } from './errors.js';
import { createMemoryOutbox, MemoryOutbox } from './memory.js';
import { describeOutboxContract, drain, makeRecords } from './outbox.contract.js';

describeOutboxContract('MemoryOutbox', {
  persistent: false,
  modelRuns: 100,
  async create(options) {
    const outbox = createMemoryOutbox({ ...options.limits, ...(options.now ? { now: options.now } : {}) });
    return { outbox, dispose: () => outbox.close() };
  },
});

describe('MemoryOutbox', () => {
  it('validates its options once, naming the option', () => {
    for (const [options, option] of [
      [{ maxEvents: 0 }, 'maxEvents'],
      [{ maxBytes: -1 }, 'maxBytes'],
      [{ maxEvents: 1.5 }, 'maxEvents'],
      [{ retentionMs: Number.NaN }, 'retentionMs'],
      [{ maxDeadLetters: '5' }, 'maxDeadLetters'],
      [{ overflow: 'drop-random' }, 'overflow'],
      [{ now: 5 }, 'now'],
    ] as const) {
      const error = (() => {
        try {
          new MemoryOutbox(options as never);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(OutboxOptionError);
      expect((error as OutboxOptionError).option).toBe(option);
    }
    expect(() => new MemoryOutbox(null as never)).toThrow(OutboxOptionError);
    // 0 is settable where it means something.
    expect(() => new MemoryOutbox({ retentionMs: 0, maxDeadLetters: 0 })).not.toThrow();
  });

  it('stays bounded and in order through a large backlog with drop-oldest', async () => {
    const outbox = createMemoryOutbox({ maxEvents: 1000 });
    let dropped = 0;
    outbox.onDrop((d) => (dropped += d.count));
    const records = makeRecords(50_000, 60);
    for (let i = 0; i < records.length; i += 100) outbox.append(records.slice(i, i + 100));
    expect(dropped).toBe(49_000);
    expect((await outbox.size()).events).toBe(1000);
    expect(await drain(outbox, 333)).toEqual(records.slice(49_000).map((r) => r.uuid));
  });

  it('drops the new record when only in-flight records could make room', async () => {
    const outbox = createMemoryOutbox({ maxEvents: 2 });
    let overflow = 0;
    outbox.onDrop((d) => (overflow += d.reason === 'overflow' ? d.count : 0));
    const records = makeRecords(3);
    outbox.append(records.slice(0, 2));
    const batch = await outbox.claim(2, Infinity);
    outbox.append(records.slice(2));
    expect(overflow).toBe(1);
    await outbox.release(batch!);
    expect(await drain(outbox)).toEqual(records.slice(0, 2).map((r) => r.uuid));
  });
});
