import { describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres.js';
import { resolveSqliteOptions } from './sqlite-options.js';

// A delay past 2^31-1 ms becomes a timer that Node fires after 1 ms, with a
// TimeoutOverflowWarning on stderr: every delay option stops there.
const TOO_LONG = 2 ** 31;

describe('store options are checked, naming the option', () => {
  it('SQLite: delays from their least value to 2^31-1 ms, counts as safe integers', () => {
    const refused = (o: Parameters<typeof resolveSqliteOptions>[0]) => () => resolveSqliteOptions(o);
    for (const name of [
      'busyTimeoutMs',
      'closeExpandBudgetMs',
      'expandRetryMs',
      'expandPollMs',
      'suppressionRefreshMs',
    ] as const) {
      expect(refused({ dataDir: '/tmp/x', [name]: TOO_LONG })).toThrow(
        new RegExp(`${name} must be an integer from \\d+ to 2147483647`),
      );
      expect(refused({ dataDir: '/tmp/x', [name]: -1 })).toThrow(new RegExp(name));
      expect(resolveSqliteOptions({ dataDir: '/tmp/x', [name]: TOO_LONG - 1 })[name]).toBe(TOO_LONG - 1);
    }
    expect(refused({ dataDir: '/tmp/x', expandChunkEvents: 1e300 })).toThrow(
      /expandChunkEvents must be an integer ≥ 1/,
    );
    expect(refused({ dataDir: '/tmp/x', cacheSizeMiB: 1.5 })).toThrow(/cacheSizeMiB/);
  });

  it('PostgreSQL: the same bound, before any connection is made', async () => {
    const url = 'postgres://nobody@127.0.0.1:1/none';
    for (const name of [
      'connectTimeoutMs',
      'suppressionRefreshMs',
      'erasureSweepMs',
      'statementTimeoutMs',
    ] as const) {
      expect(() => new PostgresStore({ url, [name]: TOO_LONG })).toThrow(
        expect.objectContaining({ kind: 'invalid-input', message: expect.stringContaining(name) }),
      );
    }
    // The longest refresh still gives a sweep delay a timer can wait.
    const longest = new PostgresStore({ url, suppressionRefreshMs: 2_000_000_000 });
    await longest.close();
  });
});
