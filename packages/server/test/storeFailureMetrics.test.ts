import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../src/store/errors.js';
import type { Store } from '../src/store/store.js';
import { bearer, post, startServerOn, type Running } from './harness.js';

/**
 * A `wrap` for startServerOn: while `down.on`, every store call the server makes rejects with
 * `unreachable`, as PostgreSQL refusing connections does (the key lookup fails before any write).
 */
function storeDown(down: { on: boolean }) {
  return (inner: Store): Store =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (down.on) return Promise.reject(new StoreError('unreachable', 'connection refused (injected)'));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
}

async function failuresCounted(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^homing_store_failures_total\{kind="unreachable"\} (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('homing_store_failures_total during a full store outage', () => {
  let s: Running | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('counts every 503 the store caused, the key lookup and the admin API included', async () => {
    const down = { on: false };
    s = await startServerOn('sqlite', {}, storeDown(down));
    const key = s.project.writeKey;
    const admin = { authorization: `Bearer ${s.project.adminKey}` };
    down.on = true;
    // A key never seen (nothing cached: the lookup itself fails) and the project's own.
    const answers = [
      await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], bearer('hw_never_seen')),
      await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], bearer(key)),
      await post(`${s.url}/batch/`, { api_key: key, batch: [{ event: 'e', distinct_id: 'x' }] }),
      await post(`${s.url}/v1/track`, { writeKey: key, event: 'e', userId: 'x' }),
      await fetch(`${s.url}/api/events`, { headers: admin }),
    ];
    expect(answers.map((a) => a.status)).toEqual([503, 503, 503, 503, 503]);
    expect(await failuresCounted(s.url)).toBe(5);
    down.on = false;
    expect((await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], bearer(key))).status).toBe(202);
    expect(await failuresCounted(s.url)).toBe(5);
  });

  it('times failed writes apart from committed ones in homing_store_write_duration_seconds', async () => {
    const failing = { on: false };
    s = await startServerOn(
      'sqlite',
      {},
      (inner: Store): Store =>
        new Proxy(inner, {
          get(target, prop, receiver) {
            const v = Reflect.get(target, prop, receiver) as unknown;
            if (prop !== 'insertEvents' || typeof v !== 'function') return v;
            return (...args: unknown[]) =>
              failing.on
                ? Promise.reject(new StoreError('timeout', 'statement timeout (injected)'))
                : (v as (...a: unknown[]) => unknown).apply(target, args);
          },
        }),
    );
    const key = bearer(s.project.writeKey);
    expect((await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], key)).status).toBe(202);
    failing.on = true;
    expect((await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'y' }], key)).status).toBe(503);
    expect((await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'z' }], key)).status).toBe(503);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toMatch(/^homing_store_write_duration_seconds_count\{outcome="committed"\} 1$/m);
    expect(text).toMatch(/^homing_store_write_duration_seconds_count\{outcome="failed"\} 2$/m);
  });
});
