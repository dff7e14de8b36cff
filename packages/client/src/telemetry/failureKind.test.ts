import { describe, expect, it } from 'vitest';
import { OutboxIoError } from '../outbox/errors.js';
import { failureKind } from './failureKind.js';

const fsError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('failureKind', () => {
  it('is the same for a full disk however many bytes are left, and differs for another code', () => {
    const full = (free: number) =>
      new OutboxIoError('persist', { cause: fsError('ENOSPC', `no space left (${free} bytes free)`) });
    expect(failureKind(full(49_152))).toBe(failureKind(full(36_864)));
    const readOnly = new OutboxIoError('persist', { cause: fsError('EROFS', 'read-only file system') });
    expect(failureKind(readOnly)).not.toBe(failureKind(full(49_152)));
  });

  it('takes a DOMException name along the causes (a quota refused)', () => {
    const quota = (n: number) =>
      new OutboxIoError('persist', { cause: new DOMException(`over by ${n}`, 'QuotaExceededError') });
    expect(failureKind(quota(1))).toBe(failureKind(quota(2)));
    expect(failureKind(quota(1))).toContain('QuotaExceededError');
  });

  it('falls back to the message, and tells plain values apart by content; cycles and odd values do not throw', () => {
    expect(failureKind(new Error('a'))).not.toBe(failureKind(new Error('b')));
    expect(failureKind({ reason: 'a' })).not.toBe(failureKind({ reason: 'b' }));
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const causeCycle = new Error('loop') as Error & { cause?: unknown };
    causeCycle.cause = causeCycle;
    for (const odd of [cycle, causeCycle, undefined, null, 1n, Symbol('s'), () => 1]) {
      expect(typeof failureKind(odd)).toBe('string');
    }
  });
});
