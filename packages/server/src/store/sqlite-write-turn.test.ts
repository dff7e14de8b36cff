import { describe, expect, it } from 'vitest';
import { TURN_SLOTS, WriteTurn } from './sqlite-write-turn.js';

describe('WriteTurn.logWrite', () => {
  it('writes at once, flagging the write while it runs', async () => {
    const turn = new WriteTurn();
    let flagged = -1;
    const result = await turn.logWrite(() => {
      flagged = Atomics.load(turn.shared, TURN_SLOTS.logWriting);
      return 42;
    });
    expect(result).toBe(42);
    expect(flagged).toBe(1);
    expect(Atomics.load(turn.shared, TURN_SLOTS.logWriting)).toBe(0);
  });

  it('waits while the worker holds log writes, without blocking the event loop, and writes once it lets go', async () => {
    const turn = new WriteTurn();
    Atomics.store(turn.shared, TURN_SLOTS.logHold, 1);
    const order: string[] = [];
    const write = turn.logWrite(() => order.push('write'));
    await new Promise((r) => setTimeout(r, 30));
    order.push('timer ran');
    // The hold is seen: the write is not flagged while it waits.
    expect(Atomics.load(turn.shared, TURN_SLOTS.logWriting)).toBe(0);
    Atomics.store(turn.shared, TURN_SLOTS.logHold, 0);
    Atomics.notify(turn.shared, TURN_SLOTS.logHold);
    await write;
    expect(order).toEqual(['timer ran', 'write']);
  });

  it('writes anyway after a bounded wait when the hold is never let go (a worker that died holding it)', async () => {
    const turn = new WriteTurn();
    Atomics.store(turn.shared, TURN_SLOTS.logHold, 1);
    const started = performance.now();
    await turn.logWrite(() => undefined);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(2_000);
  });

  it('passes on what the write throws, and clears its flag', async () => {
    const turn = new WriteTurn();
    await expect(
      turn.logWrite(() => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(Atomics.load(turn.shared, TURN_SLOTS.logWriting)).toBe(0);
  });
});

describe('WriteTurn.runAsync', () => {
  it('callers of one thread take turns while the worker holds it, in order, and the event loop keeps running', async () => {
    const turn = new WriteTurn();
    // The worker's chunk in progress.
    Atomics.store(turn.shared, TURN_SLOTS.holder, 2);
    const order: string[] = [];
    const a = turn.runAsync(() => order.push('a'));
    const b = turn.runAsync(() => order.push('b'));
    const c = turn.runAsync(() => order.push('c'));
    await new Promise((r) => setTimeout(r, 20));
    order.push('timer ran');
    Atomics.store(turn.shared, TURN_SLOTS.holder, 0);
    Atomics.notify(turn.shared, TURN_SLOTS.holder);
    await Promise.all([a, b, c]);
    expect(order).toEqual(['timer ran', 'a', 'b', 'c']);
    expect(Atomics.load(turn.shared, TURN_SLOTS.holder)).toBe(0);
    expect(Atomics.load(turn.shared, TURN_SLOTS.ingestWaiting)).toBe(0);
  });

  it('a caller whose fn throws lets the next one have the turn', async () => {
    const turn = new WriteTurn();
    const failing = turn.runAsync(() => {
      throw new Error('write failed');
    });
    const next = turn.runAsync(() => 'next');
    await expect(failing).rejects.toThrow('write failed');
    await expect(next).resolves.toBe('next');
    expect(Atomics.load(turn.shared, TURN_SLOTS.holder)).toBe(0);
  });
});
