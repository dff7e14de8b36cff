import { afterEach, describe, expect, it } from 'vitest';
import { AdminApiError } from './adminAuth.js';
import { type AdminApp, BACKENDS, ingestEvent, startAdminApp, T0_ISO } from './adminApi.test-helpers.js';
import { personsRoutes } from './persons.js';
import { parseInstant, parseInterval, QUERY_LIMITS, queryRoutes } from './query.js';

const apps: AdminApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function start(backend: (typeof BACKENDS)[number]) {
  const app = await startAdminApp(backend, [queryRoutes]);
  apps.push(app);
  return app;
}

const H = 3600_000;
const NOW = Date.parse('2026-05-10T12:00:00Z');

describe('query string parsing', () => {
  it('reads instants: ISO dates, date-times with a zone, now, and relative times', () => {
    expect(parseInstant('2026-01-31', 'since', NOW)).toBe(Date.parse('2026-01-31T00:00:00Z'));
    expect(parseInstant('2026-01-31T10:00:00+02:00', 'since', NOW)).toBe(Date.parse('2026-01-31T08:00:00Z'));
    expect(parseInstant('2026-01-31T10:00:00.123Z', 'since', NOW)).toBe(
      Date.parse('2026-01-31T10:00:00.123Z'),
    );
    // The zone forms ingest takes for a timestamp: ±HH:MM, ±HHMM and ±HH.
    expect(parseInstant('2026-01-31T10:00:00+0530', 'since', NOW)).toBe(Date.parse('2026-01-31T04:30:00Z'));
    expect(parseInstant('2026-01-31T10:00:00+05', 'since', NOW)).toBe(Date.parse('2026-01-31T05:00:00Z'));
    expect(parseInstant('2026-01-31T10:00-03', 'until', NOW)).toBe(Date.parse('2026-01-31T13:00:00Z'));
    expect(parseInstant('now', 'since', NOW)).toBe(NOW);
    expect(parseInstant('-24h', 'since', NOW)).toBe(NOW - 24 * H);
    expect(parseInstant('-7d', 'since', NOW)).toBe(NOW - 7 * 24 * H);
    expect(parseInstant('-30m', 'since', NOW)).toBe(NOW - 30 * 60_000);
    for (const bad of [
      '',
      'yesterday',
      '1',
      '2026-01-31T10:00:00',
      '2026-13-45',
      '+7d',
      '-7y',
      '-6M',
      '-7D',
      '2026-01-31T10:00Zjunk',
      '2026-01-31T10:00:00+5',
      '2026-01-31T10:00:00+05:3',
      '2026-01-31T10:00:00+24',
    ]) {
      const err = (() => {
        try {
          parseInstant(bad, 'since', NOW);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).toBeInstanceOf(AdminApiError);
      expect((err as AdminApiError).kind).toBe('invalid-request');
      expect((err as AdminApiError).message).toMatch(/^since /);
    }
  });

  it('reads intervals: 30s, 5m, 1h, 1d, 1w, 1.5h or bare seconds; refuses under a second', () => {
    expect(parseInterval('30s')).toBe(30);
    expect(parseInterval('5m')).toBe(300);
    expect(parseInterval('1h')).toBe(3600);
    expect(parseInterval('1d')).toBe(86_400);
    expect(parseInterval('1w')).toBe(604_800);
    expect(parseInterval('1.5h')).toBe(5400);
    expect(parseInterval('900')).toBe(900);
    // Any number of decimals: a second and a bit is at least a second.
    expect(parseInterval('1.0000001')).toBeCloseTo(1.0000001, 9);
    expect(parseInterval('3600.0000001s')).toBeCloseTo(3600.0000001, 9);
    for (const bad of ['0', '0.5', '-1h', 'abc', '1.5.5', '1y', '', 'h', '1e9', '1M', '1H']) {
      expect(() => parseInterval(bad), bad).toThrow(AdminApiError);
      expect(() => parseInterval(bad), bad).not.toThrow(/too large/);
    }
    // Too many digits is named as what it is, not only as the rule's minimum.
    for (const big of ['8640000000000', '1000000000d', '1234567890.5h']) {
      expect(() => parseInterval(big), big).toThrow(/interval is too large/);
    }
  });
});

describe.each(BACKENDS)('query API over HTTP (%s)', (backend) => {
  it('lists events with filters, newest first, pages with next, and never shows another project', async () => {
    const app = await start(backend);
    const events = [
      ...Array.from({ length: 12 }, (_, i) =>
        ingestEvent({ event: 'signup', distinctId: 'a', at: i * 1000 }),
      ),
      ...Array.from({ length: 6 }, (_, i) =>
        ingestEvent({ event: 'login', distinctId: 'b', at: i * 1000 + 500 }),
      ),
    ];
    await app.store.insertEvents(app.project.id, events);
    await app.store.insertEvents(app.other.id, [ingestEvent({ event: 'signup', distinctId: 'a' })]);

    const all = await app.call('GET', '/api/events');
    expect(all.status).toBe(200);
    expect(all.json.events).toHaveLength(18);
    expect(all.json.next).toBeNull();
    const times = all.json.events.map((e: { timestamp: string }) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((x: number, y: number) => y - x));

    const signups = await app.call('GET', '/api/events?event=signup');
    expect(signups.json.events).toHaveLength(12);
    expect(signups.json.events.every((e: { event: string }) => e.event === 'signup')).toBe(true);
    expect((await app.call('GET', '/api/events?distinct_id=b')).json.events).toHaveLength(6);
    expect((await app.call('GET', '/api/events?distinct_id=b&event=signup')).json.events).toHaveLength(0);
    const since = new Date(Date.parse(T0_ISO) + 6000).toISOString();
    const until = new Date(Date.parse(T0_ISO) + 9000).toISOString();
    const windowed = await app.call('GET', `/api/events?event=signup&since=${since}&until=${until}`);
    expect(windowed.json.events.map((e: { timestamp: string }) => e.timestamp)).toEqual([
      new Date(Date.parse(T0_ISO) + 8000).toISOString(),
      new Date(Date.parse(T0_ISO) + 7000).toISOString(),
      since,
    ]);

    const paged: string[] = [];
    let next = '';
    for (let i = 0; i < 10; i++) {
      const r = await app.call('GET', `/api/events?limit=5${next}`);
      expect(r.json.events.length).toBeLessThanOrEqual(5);
      paged.push(...r.json.events.map((e: { uuid: string }) => e.uuid));
      if (r.json.next === null) break;
      next = `&cursor=${encodeURIComponent(r.json.next)}`;
    }
    expect(paged.sort()).toEqual(events.map((e) => e.uuid).sort());

    const foreign = await app.call('GET', '/api/events', { key: app.other.adminKey });
    expect(foreign.json.events).toHaveLength(1);
    expect((await app.call('GET', '/api/events?since=-1h')).json.events).toHaveLength(0);
  });

  it('pages through 1 200 events of one millisecond, each exactly once, by event and by person', async () => {
    const app = await startAdminApp(backend, [queryRoutes, personsRoutes]);
    apps.push(app);
    const tied = Array.from({ length: 1200 }, (_, i) =>
      ingestEvent({ event: 'same-ms', distinctId: 'bulk', at: 0, properties: { i } }),
    );
    await app.store.insertEvents(app.project.id, tied.slice(0, 1000));
    await app.store.insertEvents(app.project.id, tied.slice(1000));
    for (const path of ['/api/events?event=same-ms&limit=100', '/api/persons/bulk/events?limit=100']) {
      const seen: string[] = [];
      let cursor = '';
      for (let page = 0; page < 20; page++) {
        const r = await app.call('GET', `${path}${cursor}`);
        expect({ path, page, status: r.status }).toEqual({ path, page, status: 200 });
        seen.push(...r.json.events.map((e: { uuid: string }) => e.uuid));
        if (r.json.next === null) break;
        cursor = `&cursor=${encodeURIComponent(r.json.next)}`;
      }
      expect(seen).toHaveLength(1200);
      expect([...seen].sort()).toEqual(tied.map((e) => e.uuid).sort());
    }
    // A cursor of the form servers before the keyset cursor handed out: refused, saying why.
    const old = Buffer.from(JSON.stringify([Date.parse(T0_ISO), 100])).toString('base64url');
    const r = await app.call('GET', `/api/events?event=same-ms&cursor=${old}`);
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/older version of this server; start again from the first page/);
  });

  it('pages large events by size: a page stops short of limit with next set, and the pages hold them all', async () => {
    const app = await startAdminApp(backend, [queryRoutes, personsRoutes]);
    apps.push(app);
    const big = 'y'.repeat(900_000);
    const events = Array.from({ length: 12 }, (_, i) =>
      ingestEvent({ distinctId: 'large', at: i, properties: { i, big } }),
    );
    for (const e of events) await app.store.insertEvents(app.project.id, [e]);
    for (const path of ['/api/events?limit=1000', '/api/persons/large/events?limit=1000']) {
      const sizes: number[] = [];
      const seen: number[] = [];
      let cursor = '';
      for (let page = 0; page < 5; page++) {
        const r = await app.call('GET', `${path}${cursor}`);
        expect({ path, page, status: r.status }).toEqual({ path, page, status: 200 });
        sizes.push(r.json.events.length);
        seen.push(...r.json.events.map((e: { properties: { i: number } }) => e.properties.i));
        if (r.json.next === null) break;
        cursor = `&cursor=${encodeURIComponent(r.json.next)}`;
      }
      expect({ path, sizes }).toEqual({ path, sizes: [10, 2] });
      expect(seen).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    }
  });

  it('counts events per bucket and per event name, empty buckets included', async () => {
    const app = await start(backend);
    const t0 = Date.parse(T0_ISO);
    await app.store.insertEvents(app.project.id, [
      ingestEvent({ event: 'signup', at: 0 }),
      ingestEvent({ event: 'signup', at: 10 * 60_000 }),
      ingestEvent({ event: 'login', at: 30 * 60_000 }),
      ingestEvent({ event: 'login', at: 2 * H + 1 }),
      ingestEvent({ event: 'login', at: 3 * H }), // at `to`: outside the range
    ]);
    await app.store.insertEvents(app.other.id, [ingestEvent({ event: 'signup', at: 0 })]);
    const from = new Date(t0).toISOString();
    const to = new Date(t0 + 3 * H).toISOString();
    for (const interval of ['1h', '3600', '60m']) {
      const r = await app.call('GET', `/api/stats?from=${from}&to=${to}&interval=${interval}`);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({
        from,
        to,
        interval_seconds: 3600,
        totals: { total: 4, by_event: { signup: 2, login: 2 }, other: 0, other_names: 0 },
        buckets: [
          { start: from, total: 3, by_event: { signup: 2, login: 1 }, other: 0 },
          { start: new Date(t0 + H).toISOString(), total: 0, by_event: {}, other: 0 },
          { start: new Date(t0 + 2 * H).toISOString(), total: 1, by_event: { login: 1 }, other: 0 },
        ],
      });
    }
    const fine = await app.call('GET', `/api/stats?from=${from}&to=${to}&interval=5m`);
    expect(fine.json.buckets).toHaveLength(36);
    expect(fine.json.buckets[2]).toMatchObject({ total: 1, by_event: { signup: 1 } });
    // Defaults: the last day, hourly, snapped to whole hours (the current one included).
    const recent = await app.call('GET', '/api/stats');
    expect(recent.status).toBe(200);
    expect(recent.json.interval_seconds).toBe(3600);
    expect(recent.json.buckets.length).toBeGreaterThanOrEqual(24);
    expect(recent.json.buckets.length).toBeLessThanOrEqual(25);
    expect(recent.json.buckets.every((b: { start: string }) => b.start.endsWith(':00:00.000Z'))).toBe(true);
    expect(Date.parse(recent.json.to)).toBeGreaterThanOrEqual(Date.now() - 60_000);
    expect(recent.json.totals.total).toBe(0);
    const daily = await app.call('GET', '/api/stats?from=-7d&interval=1d');
    expect(daily.json.buckets[0].start).toMatch(/T00:00:00\.000Z$/);
    // Weeks start on Monday 00:00 UTC (from the epoch, a Thursday, they ran Thursday to Wednesday).
    for (const interval of ['1w', '2w']) {
      const weekly = await app.call('GET', `/api/stats?from=-8w&interval=${interval}`);
      expect(weekly.status).toBe(200);
      for (const b of weekly.json.buckets as { start: string }[]) {
        expect(new Date(b.start).getUTCDay(), b.start).toBe(1);
        expect(b.start).toMatch(/T00:00:00\.000Z$/);
      }
      expect(new Date(weekly.json.to).getUTCDay()).toBe(1);
    }
  });

  it('names at most maxStatsEvents event names, those with the most events; the rest are counted as other', async () => {
    const app = await start(backend);
    const t0 = Date.parse(T0_ISO);
    // Anyone with the write key can make up names: 1 000 are named, however many there are.
    const made = 1004;
    await app.store.insertEvents(app.project.id, [
      ...Array.from({ length: made }, (_, i) =>
        ingestEvent({ event: `made-up-${String(i).padStart(5, '0')}`, at: (i % 2) * H }),
      ),
      ...Array.from({ length: 3 }, () => ingestEvent({ event: 'signup', at: H })),
    ]);
    const from = new Date(t0).toISOString();
    const to = new Date(t0 + 2 * H).toISOString();
    const r = await app.call('GET', `/api/stats?from=${from}&to=${to}&interval=1h`);
    expect(r.status).toBe(200);
    const { totals, buckets } = r.json;
    // signup has the most events; the made-up names tie at 1, kept in code point order.
    expect(Object.keys(totals.by_event)).toHaveLength(1000);
    expect(totals.by_event.signup).toBe(3);
    expect(totals.by_event['made-up-00998']).toBe(1);
    expect(totals.by_event['made-up-00999']).toBeUndefined();
    expect(totals).toMatchObject({ total: made + 3, other: 5, other_names: 5 });
    expect(buckets).toHaveLength(2);
    for (const b of buckets) {
      const named = Object.values(b.by_event as Record<string, number>).reduce((n, c) => n + c, 0);
      expect(named + b.other).toBe(b.total);
    }
    expect(buckets[0].total + buckets[1].total).toBe(made + 3);
    expect(buckets[0].other + buckets[1].other).toBe(5);
    expect(QUERY_LIMITS.maxStatsEvents).toBe(1000);
  });

  it('answers 400 with a reason for bad query strings, refuses millions of buckets, and keeps serving', async () => {
    const app = await start(backend);
    const bad = [
      '/api/events?limit=0',
      '/api/events?limit=1001',
      '/api/events?limit=ten',
      '/api/events?since=last-week',
      '/api/events?until=2026-01-01T00:00',
      '/api/events?since=2026-02-01&until=2026-01-01',
      `/api/events?event=${'e'.repeat(1001)}`,
      `/api/events?distinct_id=${'d'.repeat(1001)}`,
      '/api/events?event=a&event=b',
      '/api/events?cursor=%7B%7D',
      '/api/events?evnt=signup',
      '/api/stats?interval=0',
      '/api/stats?interval=1ms',
      '/api/stats?interval=-1h',
      '/api/stats?from=2020-01-01&to=2026-01-01&interval=1s',
      '/api/stats?from=2026-01-02&to=2026-01-01',
      '/api/stats?from=2026-01-01&to=2026-01-01',
      '/api/stats?from=soon',
      '/api/stats?from=-100000000d&to=now&interval=1d',
      '/api/stats?intervall=1h',
      '/api/stats?from=-999999999d&to=-999999998d&interval=1d',
      '/api/events?since=-999999999w',
      '/api/stats?from=-14000w&to=now&interval=999999999w',
    ];
    for (const path of bad) {
      const r = await app.call('GET', path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.any(String) });
    }
    const millions = await app.call('GET', '/api/stats?from=2020-01-01&to=2026-01-01&interval=1s');
    expect(millions.json.message).toMatch(/\d+ buckets, more than 10000/);
    // A zone's + sent unencoded arrives as a space: the answer says so.
    const plus = await app.call('GET', '/api/events?since=2026-01-01T12:00:00+05:30');
    expect(plus.status).toBe(400);
    expect(plus.json.message).toMatch(/a \+ in a URL query reads as a space: write it %2B/);
    const encoded = await app.call('GET', '/api/events?since=2026-01-01T12:00:00%2B05:30');
    expect(encoded.status).toBe(200);
    expect((await app.call('GET', '/api/events?since=soon')).json.message).not.toMatch(/%2B/);
    expect((await app.call('GET', '/api/events')).status).toBe(200);
  });

  it('reads limit as decimal digits only: hex, binary, exponents, signs and spaces answer 400 naming it', async () => {
    const app = await start(backend);
    await app.store.insertEvents(
      app.project.id,
      Array.from({ length: 20 }, (_, i) => ingestEvent({ at: i })),
    );
    // Number() reads each of these as a number (16, 3, 10, 3, 3, 3): none is what a client meant.
    for (const limit of ['0x10', '0b11', '0o3', '1e1', '%203', '3%20', '%2B3', '3.0', '']) {
      const r = await app.call('GET', `/api/events?limit=${limit}`);
      expect({ limit, status: r.status }).toEqual({ limit, status: 400 });
      expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.stringContaining('limit') });
    }
    expect((await app.call('GET', '/api/events?limit=16')).json.events).toHaveLength(16);
    expect((await app.call('GET', '/api/events?limit=007')).json.events).toHaveLength(7);
  });

  it('refuses event and distinct_id filters ingest could never have stored (NUL), naming the rule', async () => {
    const app = await start(backend);
    await app.store.insertEvents(app.project.id, [ingestEvent({ distinctId: 'a\u0001b' })]);
    for (const path of [
      '/api/events?distinct_id=%00',
      '/api/events?distinct_id=a%00b',
      '/api/events?event=%00',
    ]) {
      const r = await app.call('GET', path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.stringContaining('NUL') });
    }
    // Other control characters are ingest's to allow, so the filter finds them.
    const ctl = await app.call('GET', '/api/events?distinct_id=a%01b');
    expect(ctl.json.events).toHaveLength(1);
  });

  it('reports the bucket width it used: a sub-millisecond interval is rounded, and said so', async () => {
    const app = await start(backend);
    const from = T0_ISO;
    const to = new Date(Date.parse(T0_ISO) + 5000).toISOString();
    const r = await app.call('GET', `/api/stats?from=${from}&to=${to}&interval=1.0005`);
    expect(r.status).toBe(200);
    expect(r.json.interval_seconds).toBe(1.001);
    const starts = r.json.buckets.map((b: { start: string }) => Date.parse(b.start));
    expect(starts[1] - starts[0]).toBe(1001);
    expect(starts[4] - starts[0]).toBe(4 * 1001);
  });

  it('takes a bound finer than a millisecond exactly: since and until round it up, and stats say so', async () => {
    const app = await start(backend);
    // T0 + 10 s exactly; the bounds below are 0.9 µs after it.
    await app.store.insertEvents(app.project.id, [ingestEvent({ event: 'at-10s', at: 10_000 })]);
    const t10 = new Date(Date.parse(T0_ISO) + 10_000).toISOString();
    const justAfter = t10.replace('.000Z', '.0009Z');
    const t11 = new Date(Date.parse(T0_ISO) + 11_000).toISOString();
    const t9 = new Date(Date.parse(T0_ISO) + 9_000).toISOString();
    const since = await app.call('GET', `/api/events?since=${justAfter}&until=${t11}`);
    expect(since.json.events).toEqual([]);
    const until = await app.call('GET', `/api/events?since=${t9}&until=${justAfter}`);
    expect(until.json.events.map((e: { event: string }) => e.event)).toEqual(['at-10s']);
    const stats = await app.call('GET', `/api/stats?from=${justAfter}&to=${t11}&interval=1`);
    expect(stats.json.totals.total).toBe(0);
    expect(stats.json.from).toBe(t10.replace('.000Z', '.001Z'));
    // Whole milliseconds are taken as given.
    expect(parseInstant(t10, 'since', NOW)).toBe(Date.parse(t10));
    expect(parseInstant('2026-01-31T10:00:00.1230000Z', 'since', NOW)).toBe(
      Date.parse('2026-01-31T10:00:00.123Z'),
    );
  });

  it('needs the admin key: 401 without or with an unknown one, 403 with the write key', async () => {
    const app = await start(backend);
    for (const path of ['/api/events', '/api/stats']) {
      expect((await app.call('GET', path, { key: null })).status).toBe(401);
      expect((await app.call('GET', path, { key: 'hw_unknown' })).status).toBe(401);
      const write = await app.call('GET', path, { key: app.project.writeKey });
      expect(write.status).toBe(403);
      expect(write.json.error).toBe('write-key');
    }
  });
});
