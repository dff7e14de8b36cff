import { describe, expect, it } from 'vitest';
import { eachAtMost } from './eachAtMost.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('eachAtMost', () => {
  it('runs every item, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await eachAtMost([...Array(50).keys()], 4, async (i) => {
      running++;
      most = Math.max(most, running);
      await tick();
      if (i % 3 === 0) await tick();
      seen.push(i);
      running--;
    });
    expect(most).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });

  it('passes the first failure on once every other item has run', async () => {
    const done: number[] = [];
    const run = eachAtMost([0, 1, 2, 3, 4, 5], 2, async (i) => {
      await tick();
      if (i === 1) throw new Error('one');
      if (i === 3) throw new Error('three');
      done.push(i);
    });
    await expect(run).rejects.toThrow('one');
    expect(done.sort()).toEqual([0, 2, 4, 5]);
  });

  it('resolves at once for no items', async () => {
    await eachAtMost([], 8, async () => {
      throw new Error('never called');
    });
  });
});
