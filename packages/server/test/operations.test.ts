import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../src/store/errors.js';
import type { Store } from '../src/store/store.js';
import { bearer, post, startServerOn, v7, type Running } from './harness.js';

/** Wraps a store so insertEvents and ping fail while `failing` is set. */
function failingStore(inner: Store, state: { failing: boolean }): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'insertEvents' && state.failing) {
        return async () => {
          throw new StoreError('storage', 'disk I/O error (injected)');
        };
      }
      if (prop === 'ping' && state.failing) {
        return async () => {
          throw new StoreError('unreachable', 'gone (injected)');
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('operations: health, readiness, metrics, CORS, storage failure', () => {
  let s: Running;
  const state = { failing: false };
  beforeAll(async () => {
    s = await startServerOn('sqlite', { corsOrigins: ['https://app.example.com'] }, (inner) =>
      failingStore(inner, state),
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  it('healthz and readyz answer 200 while storage answers, readyz 503 when it does not', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    state.failing = true;
    try {
      const r = await fetch(`${s.url}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ status: 'unavailable', reason: 'unreachable' });
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    } finally {
      state.failing = false;
    }
  });

  it('a storage failure answers 503 with Retry-After on every route, and nothing is acknowledged', async () => {
    state.failing = true;
    try {
      const uuid = v7();
      const native = await post(
        `${s.url}/ingest`,
        [{ uuid, event: 'lost?', distinct_id: 'x' }],
        bearer(s.project.writeKey),
      );
      expect(native.status).toBe(503);
      expect(native.headers.get('retry-after')).toBe('5');
      const ph = await post(`${s.url}/batch/`, {
        api_key: s.project.writeKey,
        batch: [{ event: 'e', distinct_id: 'x' }],
      });
      expect(ph.status).toBe(503);
      const seg = await post(`${s.url}/v1/track`, { writeKey: s.project.writeKey, event: 'e', userId: 'x' });
      expect(seg.status).toBe(503);
    } finally {
      state.failing = false;
    }
    // The client retries: now it is stored once.
    const again = await post(
      `${s.url}/ingest`,
      [{ event: 'retried', distinct_id: 'x' }],
      bearer(s.project.writeKey),
    );
    expect(again.status).toBe(202);
  });

  it('/metrics counts requests by route and status, events by outcome, and latencies', async () => {
    const uuid = v7();
    await post(
      `${s.url}/ingest`,
      [{ uuid, event: 'm', distinct_id: 'x' }, { event: '' }],
      bearer(s.project.writeKey),
    );
    await post(`${s.url}/ingest`, [{ uuid, event: 'm', distinct_id: 'x' }], bearer(s.project.writeKey));
    const res = await fetch(`${s.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/homing_http_requests_total\{route="\/ingest",method="POST",status="202"\} \d+/);
    expect(text).toMatch(/homing_http_requests_total\{route="\/ingest",method="POST",status="503"\} 1/);
    expect(text).toMatch(/homing_ingest_events_total\{format="native",outcome="duplicate"\} 1/);
    expect(text).toMatch(/homing_ingest_events_total\{format="native",outcome="rejected"\} 1/);
    expect(text).toMatch(/homing_ingest_duration_seconds_count\{format="native"\} \d+/);
    expect(text).toMatch(/homing_store_write_duration_seconds_count\{outcome="committed"\} [1-9]\d*/);
    expect(text).toMatch(/homing_store_failures_total\{kind="storage"\} 3/);
    // Nothing of an event's content in the metrics.
    expect(text).not.toContain(uuid);
  });

  it('answers CORS preflights for configured origins only', async () => {
    const ok = await fetch(`${s.url}/ingest`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const other = await fetch(`${s.url}/ingest`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses requests from origins not allowed, beacons included (no preflight asks first)', async () => {
    const uuid = v7();
    const body = JSON.stringify({
      api_key: s.project.writeKey,
      batch: [{ uuid, event: 'beacon', distinct_id: 'x' }],
    });
    // What sendBeacon sends: text/plain, an Origin header, no preflight. CORS would only have
    // kept the page from reading the answer; the old code stored the event.
    const other = await fetch(`${s.url}/batch/`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain;charset=UTF-8' },
      body,
    });
    expect(other.status).toBe(403);
    // In PostHog's shape on its routes, Homing's reason as the detail.
    expect(await other.json()).toMatchObject({ code: 'permission_denied', detail: /corsOrigins/ });
    const nativeOther = await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], {
      ...bearer(s.project.writeKey),
      origin: 'null',
    });
    expect(nativeOther.status).toBe(403);
    expect(nativeOther.json).toMatchObject({ error: 'origin-not-allowed' });
    // The allowed origin, the server's own, and requests without an Origin (servers, SDKs) are taken.
    const allowed = await fetch(`${s.url}/batch/`, {
      method: 'POST',
      headers: { origin: 'https://app.example.com', 'content-type': 'text/plain;charset=UTF-8' },
      body,
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const own = await post(`${s.url}/ingest`, [{ event: 'own page', distinct_id: 'x' }], {
      ...bearer(s.project.writeKey),
      origin: s.url,
    });
    expect(own.status).toBe(202);
    const stored = await fetch(`${s.url}/api/events?distinct_id=x&event=beacon`, {
      headers: bearer(s.project.adminKey),
    });
    expect(((await stored.json()) as { events: { uuid: string }[] }).events.map((e) => e.uuid)).toEqual([
      uuid,
    ]);
  });

  it('the admin API is mounted and refuses the write key', async () => {
    const r = await fetch(`${s.url}/api/events`, { headers: bearer(s.project.writeKey) });
    expect([401, 403]).toContain(r.status);
    const ok = await fetch(`${s.url}/api/events?event=retried`, { headers: bearer(s.project.adminKey) });
    expect(ok.status).toBe(200);
  });
});

describe('options are checked once, naming the option', () => {
  it('refuses bad options', async () => {
    const { buildServer } = await import('../src/app.js');
    const { NoopStore } = await import('../src/store/noop.js');
    const store = new NoopStore();
    expect(() => buildServer({ store, maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
    expect(() => buildServer({ store, maxEventBytes: -1 })).toThrow(/maxEventBytes/);
    expect(() => buildServer({ store, rateLimit: { eventsPerSecond: 0, burst: 1 } })).toThrow(
      /rateLimit.eventsPerSecond/,
    );
    expect(() => buildServer({ store, corsOrigins: [''] })).toThrow(/corsOrigins/);
    expect(() => buildServer({ store: {} as Store })).toThrow(/store/);
    // 0 where it makes sense: no key cache.
    expect(() => buildServer({ store, keyCacheTtlMs: 0 })).not.toThrow();
  });
});
