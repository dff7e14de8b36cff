import { describe, expect, it } from 'vitest';
import { fallback } from './FallbackPolicy.js';

describe('fallback', () => {
  it('answers a value on failure and passes successes through', async () => {
    const policy = fallback('cached');
    expect(await policy.execute(() => 'fresh')).toBe('fresh');
    expect(
      await policy.execute(() => {
        throw new Error('down');
      }),
    ).toBe('cached');
  });

  it('calls a function with the error', async () => {
    const policy = fallback(async (e) => `fallback for ${(e as Error).message}`);
    expect(await policy.execute(() => Promise.reject(new Error('down')))).toBe('fallback for down');
  });

  it('handles decides which errors fall back; others pass untouched', async () => {
    const policy = fallback(0, { handles: (e) => (e as Error).message === 'soft' });
    const seen: unknown[] = [];
    policy.onFallback((e) => seen.push((e.error as Error).message));
    expect(
      await policy.execute(() => {
        throw new Error('soft');
      }),
    ).toBe(0);
    const hard = new Error('hard');
    await expect(
      policy.execute(() => {
        throw hard;
      }),
    ).rejects.toBe(hard);
    expect(seen).toEqual(['soft']);
  });

  it('bad configuration → ConfigError naming the option', () => {
    expect(() => fallback(1, { handles: 'x' as never })).toThrow(
      expect.objectContaining({ option: 'handles' }),
    );
    expect(() => fallback(1, { handle: () => true } as never)).toThrow(
      expect.objectContaining({ option: 'handle' }),
    );
  });
});
