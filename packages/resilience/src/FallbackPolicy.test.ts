import { describe, expect, it } from 'vitest';
import { FallbackPredicateError } from './errors.js';
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

  it("a handles predicate that throws rejects with a FallbackPredicateError that keeps the call's error", async () => {
    const bug = new Error('handles bug');
    const original = new Error('original');
    const policy = fallback('v', {
      handles: () => {
        throw bug;
      },
    });
    const error = await policy
      .execute(() => {
        throw original;
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FallbackPredicateError);
    expect(error).toMatchObject({ kind: 'config', option: 'handles', predicateError: bug, cause: original });
    expect((error as Error).message).toMatch(/threw \(Error: handles bug\)/);
    // A success never asks the predicate.
    expect(await policy.execute(() => 'ok')).toBe('ok');
  });

  it('fallback() without a value is refused; fallback(undefined) answers undefined', async () => {
    expect(() => (fallback as (...a: unknown[]) => unknown)()).toThrow(
      expect.objectContaining({ kind: 'config', option: 'value' }),
    );
    expect(
      await fallback(undefined).execute(() => {
        throw new Error('x');
      }),
    ).toBeUndefined();
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
