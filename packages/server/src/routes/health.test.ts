import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { StoreError } from '../store/errors.js';
import { NoopStore } from '../store/noop.js';

/** A store whose ping fails as `fail` says (null: ready). */
class FlakyStore extends NoopStore {
  fail: (() => Promise<void>) | null = null;
  override async ping(): Promise<void> {
    if (this.fail !== null) return this.fail();
  }
}

describe('/readyz', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  function start(readyTimeoutMs = 200) {
    const store = new FlakyStore();
    const lines: Record<string, unknown>[] = [];
    const app = buildServer({
      store,
      readyTimeoutMs,
      logger: { level: 'info', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
    });
    closers.push(() => app.close());
    const notReady = () => lines.filter((l) => l['msg'] === 'not ready');
    return { store, app, notReady };
  }

  it('names its reason in the answer and logs the cause once per reason every 10 s', async () => {
    const { store, app, notReady } = start();
    store.fail = async () => {
      throw new StoreError('timeout', 'PostgreSQL at db has the projects table locked by another session');
    };
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({ method: 'GET', url: '/readyz' });
      expect([r.statusCode, r.json()]).toEqual([503, { status: 'unavailable', reason: 'timeout' }]);
    }
    expect(notReady()).toHaveLength(1);
    expect(notReady()[0]).toMatchObject({
      level: 40,
      reason: 'timeout',
      cause: 'PostgreSQL at db has the projects table locked by another session',
    });
    // Another reason is its own line.
    store.fail = async () => {
      throw new StoreError('storage', 'PostgreSQL at db accepts no writes');
    };
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ reason: 'storage' });
    expect(notReady().map((l) => l['cause'])).toEqual([
      'PostgreSQL at db has the projects table locked by another session',
      'PostgreSQL at db accepts no writes',
    ]);
    store.fail = null;
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('a store that does not answer within readyTimeoutMs is reason timeout, said so in the log', async () => {
    const { store, app, notReady } = start(50);
    store.fail = () => new Promise(() => {});
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    expect([r.statusCode, r.json()]).toEqual([503, { status: 'unavailable', reason: 'timeout' }]);
    expect(notReady()[0]).toMatchObject({ cause: 'the store did not answer within readyTimeoutMs (50 ms)' });
    // An error of no kind is no timeout: reason storage, its own message as the cause.
    store.fail = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    };
    const r2 = await app.inject({ method: 'GET', url: '/readyz' });
    expect(r2.json()).toEqual({ status: 'unavailable', reason: 'storage' });
    expect(notReady()[1]).toMatchObject({ reason: 'storage', cause: 'SQLITE_IOERR: disk I/O error' });
  });
});
