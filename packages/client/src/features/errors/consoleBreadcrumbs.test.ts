import { format } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createPatternRedactor } from '../../pipeline/redactPatterns.js';
import { formatConsoleArgs } from './formatConsoleArgs.js';
import { createErrorTracker } from './createErrorTracker.js';
import { recordingHost } from './errors.test-helpers.js';
import type { ErrorTracker } from './types.js';

const open: ErrorTracker[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

/** A console whose `log` prints nowhere, watched by a tracker; answers the log and the breadcrumb messages. */
function watchedLog(): { log: (...args: unknown[]) => void; messages: () => string[] } {
  const c: Record<string, unknown> = { log: () => {} };
  const t = createErrorTracker(recordingHost(), {
    globals: { console: c },
    consoleBreadcrumbs: true,
    consoleMethods: ['log'],
  });
  open.push(t);
  return {
    log: (...args) => (c['log'] as (...a: unknown[]) => void)(...args),
    messages: () => t.getBreadcrumbs().map((b) => b.message),
  };
}

describe('console breadcrumbs: formatting', () => {
  it("never calls the app's getters or toJSON, as Node's console does not", () => {
    const { log, messages } = watchedLog();
    const calls: string[] = [];
    const account = {
      id: 1,
      get balance(): number {
        calls.push('getter');
        return 100;
      },
    };
    const model = {
      lazy: true,
      toJSON() {
        calls.push('toJSON');
        return { loaded: true };
      },
    };
    class Lazy {
      get total(): number {
        calls.push('prototype getter');
        return 1;
      }
    }
    log(account, model, new Lazy(), { nested: account });
    expect(calls).toEqual([]);
    expect(messages()).toEqual([
      '{"id":1,"balance":[Getter]} {"lazy":true,"toJSON":[Function: toJSON]} {} {"nested":{"id":1,"balance":[Getter]}}',
    ]);
  });

  it('reads a bounded part of a huge value: the work stops with the text', () => {
    const { log, messages } = watchedLog();
    const rows = Array.from({ length: 300_000 }, (_, i) => ({ id: i, name: `row ${i}`, tags: ['a', 'b'] }));
    const traps = { get: 0, getOwnPropertyDescriptor: 0, ownKeys: 0 };
    const counted = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(t, key, receiver) {
          traps.get++;
          return Reflect.get(t, key, receiver) as unknown;
        },
        getOwnPropertyDescriptor(t, key) {
          traps.getOwnPropertyDescriptor++;
          return Reflect.getOwnPropertyDescriptor(t, key);
        },
        ownKeys(t) {
          traps.ownKeys++;
          return Reflect.ownKeys(t);
        },
      });
    log({ rows: counted(rows) });
    log(counted(Object.fromEntries(rows.slice(0, 5_000).map((r) => [`k${r.id}`, r]))));
    log('x'.repeat(10_000_000), 'never reached');
    expect(traps.get).toBe(0);
    // length and at most 20 items of the array; the keys once, and at most 100 of them, of the object.
    expect(traps.getOwnPropertyDescriptor).toBeLessThanOrEqual(1 + 20 + 100);
    expect(traps.ownKeys).toBe(1);
    const [array, object, text] = messages();
    // Nested as deep as Node's console shows (depth 2), then as far as the text goes.
    expect(array!.startsWith('{"rows":[{"id":0,"name":"row 0","tags":[Array]},{"id":1,')).toBe(true);
    expect(array!.endsWith(',…299980 more]}')).toBe(true);
    for (const m of [array!, object!, text!]) expect(m.length).toBeLessThanOrEqual(1024 + 1);
    expect(text).toBe(`${'x'.repeat(1024)}…`);
  });

  it('shows cycles, symbols, BigInt, errors, Maps, Sets and Dates, and never throws on a hostile Proxy', () => {
    const { log, messages } = watchedLog();
    const holed = [1, 2, 3];
    delete holed[1];
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    const hostile = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('trap');
        },
        ownKeys() {
          throw new Error('trap');
        },
        getOwnPropertyDescriptor() {
          throw new Error('trap');
        },
      },
    );
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const halfHostile = new Proxy(
      { a: 1, b: 2 },
      {
        getOwnPropertyDescriptor(t, key) {
          if (key === 'b') throw new Error('trap');
          return Reflect.getOwnPropertyDescriptor(t, key);
        },
      },
    );
    class ReadError extends Error {
      override get name(): string {
        throw new Error('a getter is never called');
      }
    }
    expect(() =>
      log(
        cyclic,
        Symbol('s'),
        { [Symbol('k')]: 10n, list: holed },
        new TypeError('bad id'),
        { cause: new RangeError('deep') },
        new ReadError('mine'),
        new Map([['a', 1]]),
        new Set(['x']),
        new Date(0),
        hostile,
        revoked,
        halfHostile,
        12n,
      ),
    ).not.toThrow();
    expect(messages()).toEqual([
      [
        '{"name":"loop","self":[Circular]}',
        'Symbol(s)',
        '{"list":[1,empty,3],[Symbol(k)]:10n}',
        'TypeError: bad id',
        '{"cause":[RangeError: deep]}',
        'Error: mine',
        'Map(1) {"a" => 1}',
        'Set(1) {"x"}',
        '1970-01-01T00:00:00.000Z',
        '[Unreadable]',
        '[Unreadable]',
        '{"a":1,"b":[Unreadable]}',
        '12',
      ].join(' '),
    ]);
  });

  it('reads a first string argument as a format, as Node and the browsers do: the secret lands where redaction sees it', () => {
    const cases: unknown[][] = [
      ['connecting with password=%s', 'hunter2'],
      ['DB_PASS=%s api_key=%s', 's3cret', 'k-123'],
      ['user %s has %d items', 'ann', 42],
      ['%i|%f|%d|%d', '42.9px', '1.5e3', '7', -0],
      ['100%% done, %s', 'ok', 'extra', 3],
      ['%s and %s', 'only one'],
      ['%x %q %', 1],
      ['%c styled', 'color: red'],
      ['%d %i', 12n, 13n],
      ['%s', Symbol('s')],
      ['no specifier', 'a', 1],
      [5, '%s', 'x'],
    ];
    for (const args of cases) expect(formatConsoleArgs(args), String(args[0])).toBe(format(...args));
    // Objects show as everywhere else, and no app code runs for them (toString, valueOf, toJSON).
    const hostile = {
      toString: () => {
        throw new Error('toString ran');
      },
      valueOf: () => {
        throw new Error('valueOf ran');
      },
      toJSON: () => {
        throw new Error('toJSON ran');
      },
      id: 7,
    };
    expect(formatConsoleArgs(['%s|%d|%j|%o', hostile, hostile, { a: 'b' }, 'q'])).toBe(
      '{"toString":[Function: toString],"valueOf":[Function: valueOf],"toJSON":[Function: toJSON],"id":7}|NaN|{"a":"b"}|"q"',
    );
    // What this was for: appended after the format, the value escaped the text's redaction.
    const redact = createPatternRedactor();
    const [secret, keyed] = [
      formatConsoleArgs(['connecting with password=%s', 'hunter2']),
      formatConsoleArgs(['DB_PASS=%s api_key=%s', 's3cret', 'k-123']),
    ].map((text) => redact(text) as string);
    expect(secret).not.toContain('hunter2');
    expect(keyed).not.toMatch(/s3cret|k-123/);
    // A huge format stops with the text's budget.
    expect(formatConsoleArgs(['%s '.repeat(1_000_000), 'x']).length).toBeLessThanOrEqual(1025);
  });

  it('formats what the app logs without ever throwing', () => {
    expect(formatConsoleArgs([])).toBe('');
    expect(formatConsoleArgs(['a', 1, true, null, undefined, () => 1])).toBe(
      'a 1 true null undefined [Function]',
    );
    expect(formatConsoleArgs([Object.create(null), new Uint8Array(1_000_000)])).toBe('{} [Uint8Array]');
  });
});
