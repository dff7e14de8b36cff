import { describe, expect, it } from 'vitest';
import { checkEventName, MAX_EVENT_NAME_LENGTH } from './eventName.js';
import { Session } from './session.js';

describe('Session', () => {
  it('keeps the id while active and rotates after the idle time', () => {
    const s = new Session(1000);
    const a = s.touch(10_000);
    expect(s.touch(10_999)).toBe(a);
    expect(s.touch(11_998)).toBe(a);
    const b = s.touch(12_998);
    expect(b).not.toBe(a);
    expect(b > a).toBe(true);
  });

  it('does not rotate when the clock steps back', () => {
    const s = new Session(1000);
    const a = s.touch(10_000);
    expect(s.touch(5_000)).toBe(a);
  });
});

describe('checkEventName', () => {
  it.each([
    [undefined, 'event name is undefined'],
    [null, 'event name is null'],
    [42, 'event name is number'],
    [{}, 'event name is object'],
    ['', 'event name is empty'],
    ['   ', 'event name is empty'],
  ])('drops %j', (input, detail) => {
    expect(checkEventName(input)).toEqual({ ok: false, detail });
  });

  it.each([
    ['signup', 'signup', false],
    ['  signup ', 'signup', true],
    ['x'.repeat(MAX_EVENT_NAME_LENGTH + 50), 'x'.repeat(MAX_EVENT_NAME_LENGTH), true],
  ])('keeps %j', (input, name, fixed) => {
    expect(checkEventName(input)).toEqual({ ok: true, name, fixed });
  });
});
