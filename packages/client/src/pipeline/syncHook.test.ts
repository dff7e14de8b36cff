import { describe, expect, it } from 'vitest';
import { useUnhandledRejections } from '../unhandledRejections.test-helpers.js';
import { isAsyncAnswer } from './syncHook.js';

/** Lets every pending job and rejection check run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('isAsyncAnswer', () => {
  const unhandled = useUnhandledRejections();

  it('tells a Promise or a thenable from an answer', () => {
    expect(isAsyncAnswer(Promise.resolve({}))).toBe(true);
    expect(isAsyncAnswer((async () => 'x')())).toBe(true);
    expect(isAsyncAnswer({ then: (ok: (v: unknown) => void) => ok(1) })).toBe(true);
    for (const answer of [null, undefined, 'x', 1, {}, [], { then: 1 }, () => 1]) {
      expect(isAsyncAnswer(answer)).toBe(false);
    }
    const throwingThen = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('no');
      },
    });
    expect(isAsyncAnswer(throwingThen)).toBe(false);
  });

  it('handles the rejection of what it found, so that it never reaches the host', async () => {
    class Quirky<T> extends Promise<T> {}
    const answers = [
      Promise.reject(new Error('rejected')),
      (async () => {
        throw new Error('async throw');
      })(),
      Quirky.reject(new Error('subclass')),
      { then: (_ok: unknown, fail: (e: unknown) => void) => fail(new Error('thenable')) },
      {
        then: () => {
          throw new Error('then throws');
        },
      },
    ];
    for (const answer of answers) expect(isAsyncAnswer(answer)).toBe(true);
    await settle();
    expect(unhandled).toEqual([]);
  });
});
