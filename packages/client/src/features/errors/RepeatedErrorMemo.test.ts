import { describe, expect, it } from 'vitest';
import { MAX_REMEMBERED_LENGTH, REPEATED_ERRORS_KEPT, RepeatedErrorMemo } from './RepeatedErrorMemo.js';

const summary = (fingerprint: string) => ({ type: 'Error', value: 'boom', fingerprint });
const reading = (stack: string, message = 'boom', name: unknown = 'Error') => ({ name, message, stack });

describe('RepeatedErrorMemo', () => {
  it('recalls the summary of an error with the same name, message and stack text', () => {
    const memo = new RepeatedErrorMemo();
    memo.remember(reading('Error: boom\n    at f (/app/a.js:1:1)'), summary('a'));
    // Equal strings, not the same objects: each thrown error has its own stack string.
    const again = reading(['Error: boom', '    at f (/app/a.js:1:1)'].join('\n'));
    expect(memo.recall(again)).toEqual(summary('a'));
    expect(memo.recall(reading('Error: boom\n    at f (/app/a.js:2:1)'))).toBeUndefined();
    expect(memo.recall(reading('Error: boom\n    at f (/app/a.js:1:1)', 'bang'))).toBeUndefined();
    expect(
      memo.recall(reading('Error: boom\n    at f (/app/a.js:1:1)', 'boom', 'TypeError')),
    ).toBeUndefined();
  });

  it('remembers only errors that their three strings describe alone', () => {
    const memo = new RepeatedErrorMemo();
    // No name: the type comes from the constructor, which the strings do not show.
    for (const r of [
      reading('s', 'boom', ''),
      reading('s', 'boom', null),
      { name: 'Error', message: 42, stack: 's' },
      { name: 'Error', message: 'boom', stack: undefined },
    ]) {
      memo.remember(r, summary('x'));
      expect(memo.recall(r)).toBeUndefined();
    }
  });

  it(`keeps the last ${REPEATED_ERRORS_KEPT} errors, forgetting the oldest first`, () => {
    const memo = new RepeatedErrorMemo();
    for (let i = 0; i <= REPEATED_ERRORS_KEPT; i++) memo.remember(reading(`stack ${i}`), summary(`f${i}`));
    expect(memo.recall(reading('stack 0'))).toBeUndefined();
    for (let i = 1; i <= REPEATED_ERRORS_KEPT; i++) {
      expect(memo.recall(reading(`stack ${i}`))?.fingerprint).toBe(`f${i}`);
    }
  });

  it('reads name, message and stack once each, and a getter that throws as a missing value', () => {
    const reads: string[] = [];
    const error = {};
    for (const key of ['name', 'message', 'stack']) {
      Object.defineProperty(error, key, {
        get() {
          reads.push(key);
          if (key === 'message') throw new Error('no message');
          return key;
        },
      });
    }
    expect(RepeatedErrorMemo.read(error)).toEqual({ name: 'name', message: undefined, stack: 'stack' });
    expect(reads.sort()).toEqual(['message', 'name', 'stack']);
  });

  it('holds no long error: one over MAX_REMEMBERED_LENGTH is neither kept nor compared', () => {
    const memo = new RepeatedErrorMemo();
    // An upstream body in the message: kept whole, eight of these held hundreds of MB.
    const message = `payload ${'x'.repeat(1_000_000)}`;
    const long = reading(`Error: ${message}\n    at f (/app/a.js:1:1)`, message);
    memo.remember(long, summary('long'));
    expect(memo.recall({ ...long })).toBeUndefined();
    // The ring was not written either: what it held before is still there.
    memo.remember(reading('short'), summary('short'));
    memo.remember(long, summary('long'));
    expect(memo.recall(reading('short'))?.fingerprint).toBe('short');

    const stack = 's'.repeat(MAX_REMEMBERED_LENGTH - 'Error'.length - 'boom'.length);
    memo.remember(reading(stack), summary('at the limit'));
    expect(memo.recall(reading(`${stack}`))?.fingerprint).toBe('at the limit');
  });
});
