import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../store/errors.js';
import type { Store, StoredEvent } from '../store/store.js';
import {
  type AdminApp,
  BACKENDS,
  freshStore,
  ingestEvent,
  startAdminApp,
  until,
  ndjsonLines,
} from './adminApi.test-helpers.js';
import { exportDisposition, exportPieces, personsRoutes, type PersonsRouteOptions } from './persons.js';

const apps: AdminApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function start(backend: (typeof BACKENDS)[number], opts?: Parameters<typeof startAdminApp>[2]) {
  const app = await startAdminApp(backend, [personsRoutes], opts);
  apps.push(app);
  return app;
}

/**
 * A request whose headers go out exactly as listed: repeated names stay repeated, and latin1
 * bytes (\x80-\xff) go out as such (fetch would refuse or join them).
 */
async function rawCall(
  app: AdminApp,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    // An array value goes out as one header line per element.
    const req = httpRequest(`${app.url}${path}`, { method, headers });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.end();
  });
}

describe.each(BACKENDS)('person data rights over HTTP (%s)', (backend) => {
  it('refuses a missing, unknown, malformed or write key, and accepts X-Homing-Admin-Key', async () => {
    const app = await start(backend);
    const path = '/api/persons/alice/events';
    const missing = await app.call('GET', path, { key: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: 'missing-key', message: expect.stringContaining('Bearer') });
    expect((await app.call('GET', path, { key: 'ha_nope' })).json).toMatchObject({ error: 'unknown-key' });
    expect((await app.call('GET', path, { key: 'x'.repeat(5000) })).status).toBe(401);
    const write = await app.call('GET', path, { key: app.project.writeKey });
    expect(write.status).toBe(403);
    expect(write.json).toMatchObject({ error: 'write-key' });
    const basic = await app.call('GET', path, { key: null, headers: { authorization: 'Basic YTpi' } });
    expect(basic.status).toBe(401);
    const viaHeader = await app.call('GET', path, {
      key: null,
      headers: { 'x-homing-admin-key': app.project.adminKey },
    });
    expect(viaHeader.status).toBe(200);
    const conflicting = await app.call('GET', path, {
      headers: { 'x-homing-admin-key': app.other.adminKey },
    });
    expect(conflicting.status).toBe(400);
    expect(conflicting.json).toMatchObject({ error: 'invalid-request' });
    // Even an unauthenticated request for an unknown route answers 401, not the route map.
    expect((await app.call('GET', '/api/persons/a/b/c', { key: null })).status).toBe(401);
    expect((await app.call('GET', '/api/persons/a/b/c')).json).toMatchObject({ error: 'not-found' });
    // A 404 never repeats the path: it may hold a distinct id.
    for (const [method, path] of [
      ['GET', '/api/persons/jane.doe@example.com/evnts'],
      ['POST', '/api/persons/jane.doe@example.com'],
    ] as const) {
      const r = await app.call(method, path);
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.json)).not.toContain('jane.doe');
    }
  });

  it('access: pages through one person of one project, newest first, ties at one ms neither lost nor repeated', async () => {
    const app = await start(backend);
    // 40 events over 8 distinct milliseconds: every page boundary falls inside a tie.
    const mine = Array.from({ length: 40 }, (_, i) =>
      ingestEvent({ at: Math.floor(i / 5), properties: { i } }),
    );
    await app.store.insertEvents(app.project.id, mine);
    await app.store.insertEvents(app.project.id, [ingestEvent({ distinctId: 'bob' })]);
    await app.store.insertEvents(app.other.id, [ingestEvent()]);

    const seen: any[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const q: string = `?limit=7${next ? `&cursor=${encodeURIComponent(next)}` : ''}`;
      const r = await app.call('GET', `/api/persons/alice/events${q}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.json.events.length).toBeLessThanOrEqual(7);
      seen.push(...r.json.events);
      next = r.json.next;
      pages++;
    } while (next !== null && pages < 20);
    expect(next).toBeNull();
    expect(seen.map((e) => e.uuid).sort()).toEqual(mine.map((e) => e.uuid).sort());
    expect(new Set(seen.map((e) => e.uuid)).size).toBe(40);
    const times = seen.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(seen[0]).toMatchObject({
      distinct_id: 'alice',
      event: 'page_view',
      properties: { i: expect.any(Number) },
    });
    expect(Object.keys(seen[0]).sort()).toEqual(
      ['distinct_id', 'event', 'original_timestamp', 'properties', 'received_at', 'timestamp', 'uuid'].sort(),
    );

    // More events in one millisecond than fit a page: the cursor counts what it already showed.
    const tied = Array.from({ length: 20 }, () => ingestEvent({ distinctId: 'carol', at: 99 }));
    await app.store.insertEvents(app.project.id, tied);
    const carol: string[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const r = await app.call('GET', `/api/persons/carol/events?limit=7${cursor}`);
      carol.push(...r.json.events.map((e: { uuid: string }) => e.uuid));
      if (r.json.next === null) break;
      cursor = `&cursor=${encodeURIComponent(r.json.next)}`;
    }
    expect(carol.sort()).toEqual(tied.map((e) => e.uuid).sort());

    const window = await app.call(
      'GET',
      `/api/persons/alice/events?since=${encodeURIComponent(mine[10]!.timestamp)}&until=${encodeURIComponent(mine[20]!.timestamp)}`,
    );
    expect(window.json.events).toHaveLength(10);
    // The other project's admin key sees nothing of this project's person.
    const foreign = await app.call('GET', '/api/persons/alice/events', { key: app.other.adminKey });
    expect(foreign.json.events).toHaveLength(1);
    expect(foreign.json.events[0].uuid).not.toBe(mine[0]!.uuid);
  });

  it('answers 400 with a reason for every kind of bad input, and the server keeps serving', async () => {
    const app = await start(backend, { maxParamLength: 5000 });
    const bad = [
      '/api/persons/alice/events?limit=0',
      '/api/persons/alice/events?limit=abc',
      '/api/persons/alice/events?limit=1.5',
      '/api/persons/alice/events?limit=100000',
      '/api/persons/alice/events?limit=1&limit=2',
      '/api/persons/alice/events?since=yesterday',
      '/api/persons/alice/events?since=2026-01-01T00:00:00',
      '/api/persons/alice/events?since=2026-02-01&until=2026-01-01',
      `/api/persons/alice/events?since=${'9'.repeat(100)}`,
      '/api/persons/alice/events?cursor=not-a-cursor',
      `/api/persons/alice/events?cursor=${Buffer.from('[1,-5]').toString('base64url')}`,
      '/api/persons/alice/events?distinctId=bob',
      '/api/persons/alice/export?format=csv',
      `/api/persons/${'x'.repeat(1001)}/events`,
      '/api/persons//events',
      '/api/erasures?limit=-1',
      '/api/erasures?limit=0',
      '/api/erasures?limit=10001',
      '/api/erasures?limit=99999999',
      '/api/erasures?limit=abc',
      '/api/erasures?limit=2.5',
      // Number() would read these as 16, 3, 10, 3 and 3.
      ...['0x10', '0b11', '1e1', '%203', '%2B3'].flatMap((l) => [
        `/api/erasures?limit=${l}`,
        `/api/persons/alice/events?limit=${l}`,
      ]),
      '/api/erasures?cursor=',
      '/api/erasures?cursor=not-a-cursor',
      `/api/erasures?cursor=${Buffer.from('["e",0]').toString('base64url')}`,
      `/api/erasures?cursor=${Buffer.from('["e",1.5]').toString('base64url')}`,
      // An /api/events cursor is not an erasure log cursor.
      `/api/erasures?cursor=${Buffer.from('[1764680000000,1]').toString('base64url')}`,
      `/api/erasures?cursor=${'A'.repeat(201)}`,
      '/api/erasures?before=5',
    ];
    for (const path of bad) {
      const r = await app.call('GET', path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.any(String) });
      expect(r.json.message.length).toBeGreaterThan(5);
    }
    const del = await app.call('DELETE', `/api/persons/${'y'.repeat(1001)}`);
    expect(del.status).toBe(400);
    const badActor = await app.call('DELETE', '/api/persons/alice', {
      headers: { 'x-homing-actor': 'a'.repeat(300) },
    });
    expect(badActor.status).toBe(400);
    expect((await app.call('GET', '/api/persons/alice/events')).status).toBe(200);
  });

  it('a distinct_id longer than the router accepts in a path gets a 400 naming the limit, not a bare 404', async () => {
    const app = await start(backend, { maxParamLength: 100 });
    const long = 'z'.repeat(150);
    for (const path of [
      `/api/persons/${long}/events`,
      `/api/persons/${long}/export`,
      `/api/persons/${long}`,
    ]) {
      const r = await app.call(path.endsWith(long) ? 'DELETE' : 'GET', path);
      expect(r.status).toBe(400);
      expect(r.json.message).toContain('100');
    }
  });

  it('export: an NDJSON download of every event of the person, oldest first, with an exact file name', async () => {
    const app = await start(backend);
    const id = 'ann é/"1"';
    const mine = Array.from({ length: 1200 }, (_, i) =>
      ingestEvent({ distinctId: id, at: 1200 - i, properties: { i, note: 'line\nbreak "quoted"' } }),
    );
    await app.store.insertEvents(app.project.id, mine);
    await app.store.insertEvents(app.project.id, [ingestEvent({ distinctId: 'bob' })]);
    await app.store.insertEvents(app.other.id, [ingestEvent({ distinctId: id })]);
    const r = await app.call('GET', `/api/persons/${encodeURIComponent(id)}/export`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(r.headers.get('content-disposition')).toBe(exportDisposition(id));
    expect(r.headers.get('content-disposition')).toContain(
      `filename*=UTF-8''${encodeURIComponent(`homing-person-${id}`)}`,
    );
    const got = ndjsonLines(r.text);
    expect(got).toHaveLength(1200);
    expect(got.every((e) => e.distinct_id === id)).toBe(true);
    expect(got.map((e) => e.uuid).sort()).toEqual(mine.map((e) => e.uuid).sort());
    const times = got.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(got[0].properties.note).toBe('line\nbreak "quoted"');

    const nobody = await app.call('GET', '/api/persons/nobody/export');
    expect(nobody.status).toBe(200);
    expect(nobody.text).toBe('');
  });

  it('export: the plain file name (the one curl -OJ uses) differs for every id, non-ASCII ones included', () => {
    const plainName = (id: string) => /filename="([^"]+)"/.exec(exportDisposition(id))![1]!;
    expect(plainName('alice')).toBe('homing-person-alice.ndjson');
    const ids = ['张伟', '李娜', 'a b', 'a+b', 'a_b', 'ü', 'é'];
    const names = ids.map(plainName);
    expect(new Set(names).size).toBe(ids.length);
    for (const n of names) expect(n).toMatch(/^homing-person-[A-Za-z0-9._-]+\.ndjson$/);
    expect(plainName('a_b')).toBe('homing-person-a_b.ndjson');
    expect(plainName('a b')).toMatch(/^homing-person-a_b-[0-9a-f]{10}\.ndjson$/);
    expect(plainName('张伟')).toMatch(/^homing-person-_-[0-9a-f]{10}\.ndjson$/);
  });

  it('export: an id with an emoji across the 200th character answers 200 with a well-formed file name', async () => {
    const app = await start(backend, { maxParamLength: 5000 });
    // Character 200 (UTF-16) is the first half of an emoji: cutting there left a lone surrogate.
    const id = `a${'😀'.repeat(150)}`;
    await app.store.insertEvents(app.project.id, [ingestEvent({ distinctId: id, properties: { n: 1 } })]);
    const path = `/api/persons/${encodeURIComponent(id)}/export`;
    const r = await app.call('GET', path);
    expect(r.status).toBe(200);
    expect(ndjsonLines(r.text)).toEqual([expect.objectContaining({ distinct_id: id, properties: { n: 1 } })]);
    const disposition = r.headers.get('content-disposition')!;
    const star = /filename\*=UTF-8''(.+)$/.exec(disposition)![1]!;
    expect(decodeURIComponent(star)).toBe(`homing-person-${id}.ndjson`);
    const head = await app.call('HEAD', path);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-disposition')).toBe(disposition);
    // Longer ids are cut to 200 code points, never inside one.
    const cut = /filename\*=UTF-8''(.+)$/.exec(exportDisposition(`a${'😀'.repeat(300)}`))![1]!;
    expect(decodeURIComponent(cut)).toBe(`homing-person-a${'😀'.repeat(199)}.ndjson`);
  });

  it('refuses a distinct_id ingest could never store (NUL): no erasure is logged or suppressed', async () => {
    const app = await start(backend);
    for (const [method, path] of [
      ['DELETE', '/api/persons/%00'],
      ['DELETE', '/api/persons/a%00b'],
      ['GET', '/api/persons/%00/events'],
      ['GET', '/api/persons/a%00/export'],
      ['HEAD', '/api/persons/a%00/export'],
    ] as const) {
      const r = await app.call(method, path);
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 400 });
      if (method !== 'HEAD') {
        expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.stringContaining('NUL') });
      }
    }
    expect((await app.call('GET', '/api/erasures')).json.erasures).toEqual([]);
    // No suppression entry either: an event for that person would still be stored (were it valid).
    expect(await app.store.listErasures({ projectId: app.project.id, limit: 10 })).toEqual([]);
    // Ingest stores other control characters, so they can be erased.
    expect((await app.call('DELETE', '/api/persons/a%01b')).status).toBe(200);
  });

  it('refuses X-Homing-Actor or a key header given twice, and C1 controls in the actor; nothing is erased', async () => {
    const app = await start(backend);
    await app.store.insertEvents(app.project.id, [ingestEvent()]);
    const bearer = `Bearer ${app.project.adminKey}`;
    const auth = { Authorization: bearer };
    const cases: [string, Record<string, string | string[]>][] = [
      ['x-homing-actor', { ...auth, 'X-Homing-Actor': ['dpo', 'intruder'] }],
      // Node keeps only the first Authorization; the second is not silently dropped here.
      ['authorization', { Authorization: [bearer, 'Bearer someone-else'] }],
      ['x-homing-admin-key', { 'X-Homing-Admin-Key': [app.project.adminKey, app.project.adminKey] }],
    ];
    for (const [name, headers] of cases) {
      const r = await rawCall(app, 'DELETE', '/api/persons/alice', headers);
      expect({ name, status: r.status }).toEqual({ name, status: 400 });
      expect(r.json).toEqual({ error: 'invalid-request', message: `${name} given more than once` });
    }
    // \x85 (NEL) and \x9b (CSI) are C1 controls: not printable, and a terminal reading the log acts on them.
    for (const actor of ['d\x85po', '\x9b31mdpo']) {
      const r = await rawCall(app, 'DELETE', '/api/persons/alice', { ...auth, 'X-Homing-Actor': actor });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({
        error: 'invalid-request',
        message: expect.stringContaining('printable'),
      });
    }
    expect((await app.call('GET', '/api/erasures')).json.erasures).toEqual([]);
    expect((await app.call('GET', '/api/persons/alice/events')).json.events).toHaveLength(1);
    const ok = await rawCall(app, 'DELETE', '/api/persons/alice', { ...auth, 'X-Homing-Actor': 'Jos\xe9' });
    expect(ok).toEqual({ status: 200, json: { deleted: 1, distinct_id: 'alice' } });
    // UTF-8 names (as curl and fetch send them) are kept as sent: Ł is C5 81, whose second byte,
    // read as latin1, is a C1 control.
    for (const actor of ['Zoë Müller', 'Łukasz', '田中']) {
      const utf8 = Buffer.from(actor, 'utf8').toString('latin1');
      const r = await rawCall(app, 'DELETE', '/api/persons/alice', { ...auth, 'X-Homing-Actor': utf8 });
      expect({ actor, status: r.status }).toEqual({ actor, status: 200 });
    }
    const who = ((await app.call('GET', '/api/erasures')).json.erasures as { requested_by: string }[]).map(
      (e) => e.requested_by.replace(/ \(admin key .*\)$/, ''),
    );
    expect(who).toEqual(['田中', 'Łukasz', 'Zoë Müller', 'José']);
  });

  it('a DELETE with a body of a type no route reads is 415, not 400; nothing is erased', async () => {
    const app = await start(backend);
    await app.store.insertEvents(app.project.id, [ingestEvent()]);
    const r = await fetch(`${app.url}/api/persons/alice`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${app.project.adminKey}`, 'content-type': 'application/xml' },
      body: '<erase/>',
    });
    expect(r.status).toBe(415);
    expect(await r.json()).toMatchObject({ error: 'unsupported-media-type' });
    expect((await app.call('GET', '/api/persons/alice/events')).json.events).toHaveLength(1);
  });

  it('erasure deletes only that person in that project, answers the count, and logs who/when/how many', async () => {
    const app = await start(backend);
    await app.store.insertEvents(app.project.id, [
      ...Array.from({ length: 30 }, (_, i) =>
        ingestEvent({ at: i, properties: { secret: 'do-not-log-me' } }),
      ),
      ...Array.from({ length: 4 }, () => ingestEvent({ distinctId: 'bob' })),
    ]);
    await app.store.insertEvents(app.other.id, [ingestEvent(), ingestEvent()]);

    const refused = await app.call('DELETE', '/api/persons/alice', { key: app.project.writeKey });
    expect(refused.status).toBe(403);
    expect((await app.call('GET', '/api/persons/alice/events?limit=1000')).json.events).toHaveLength(30);

    const r = await app.call('DELETE', '/api/persons/alice', {
      headers: { 'x-homing-actor': 'dpo@example.com' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ deleted: 30, distinct_id: 'alice' });
    expect((await app.call('GET', '/api/persons/alice/events')).json.events).toHaveLength(0);
    expect((await app.call('GET', '/api/persons/bob/events')).json.events).toHaveLength(4);
    expect(
      (await app.call('GET', '/api/persons/alice/events', { key: app.other.adminKey })).json.events,
    ).toHaveLength(2);

    expect((await app.call('DELETE', '/api/persons/alice')).json).toEqual({
      deleted: 0,
      distinct_id: 'alice',
    });

    const log = await app.call('GET', '/api/erasures');
    expect(log.status).toBe(200);
    expect(log.json.erasures).toHaveLength(2);
    const [latest, first] = log.json.erasures;
    expect(first).toMatchObject({ distinct_id: 'alice', deleted_count: 30 });
    expect(first.requested_by).toMatch(/^dpo@example\.com \(admin key sha256:[0-9a-f]{12}\)$/);
    expect(first.requested_by).not.toContain(app.project.adminKey);
    expect(Date.parse(first.erased_at)).toBeGreaterThan(Date.now() - 600_000);
    expect(latest).toMatchObject({ distinct_id: 'alice', deleted_count: 0 });
    expect(log.text).not.toContain('do-not-log-me');
    const firstPage = await app.call('GET', '/api/erasures?limit=1');
    expect(firstPage.json.erasures).toEqual([latest]);
    expect(firstPage.json.next).toEqual(expect.any(String));
    const secondPage = await app.call(
      'GET',
      `/api/erasures?limit=1&cursor=${encodeURIComponent(firstPage.json.next)}`,
    );
    expect(secondPage.json).toEqual({ erasures: [first], next: null });
    expect(log.json.next).toBeNull();
    expect((await app.call('GET', '/api/erasures', { key: app.other.adminKey })).json.erasures).toEqual([]);
    expect(app.logs.join('')).not.toContain('do-not-log-me');
  });

  it('the erasure log pages newest first: bounded by default, every entry once, a cursor until the last page', async () => {
    const app = await start(backend);
    const total = 105;
    for (let i = 0; i < total; i++) await app.store.erasePerson(app.project.id, `p${i}`, 'test');
    await app.store.erasePerson(app.other.id, 'foreign', 'test');

    const whole = await app.call('GET', '/api/erasures');
    expect(whole.status).toBe(200);
    expect(whole.json.erasures).toHaveLength(100);
    expect(whole.json.erasures[0].distinct_id).toBe(`p${total - 1}`);
    expect(whole.json.next).toEqual(expect.any(String));

    const walked: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r = await app.call('GET', `/api/erasures${q}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.json.erasures.length).toBeGreaterThan(0);
      expect(r.json.erasures.length).toBeLessThanOrEqual(20);
      walked.push(...r.json.erasures.map((e: { distinct_id: string }) => e.distinct_id));
      cursor = r.json.next;
      pages++;
      // An erasure logged while the client pages is newer than the pages still to come.
      if (pages === 2) await app.store.erasePerson(app.project.id, 'late', 'test');
    } while (cursor !== null && pages < 20);
    expect(pages).toBe(6);
    expect(walked).toEqual(Array.from({ length: total }, (_, i) => `p${total - 1 - i}`));

    // A page that ends exactly at the oldest entry says so: no empty page after it.
    const exact = await app.call('GET', `/api/erasures?limit=${total + 1}`);
    expect(exact.json.erasures).toHaveLength(total + 1);
    expect(exact.json.next).toBeNull();
    // The other project's key pages its own log only.
    expect((await app.call('GET', '/api/erasures', { key: app.other.adminKey })).json).toEqual({
      erasures: [expect.objectContaining({ distinct_id: 'foreign' })],
      next: null,
    });
  });

  it('answers 503 with Retry-After when storage is gone, and keeps running', async () => {
    const app = await start(backend);
    const adminKey = app.project.adminKey;
    // findProjectByKey succeeds first; then the store fails on the call itself.
    const failing = Object.create(app.store) as Store;
    failing.queryEvents = async () => {
      throw new StoreError('storage', 'disk I/O error');
    };
    failing.personEvents = (): AsyncIterable<StoredEvent> => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new StoreError('unreachable', 'gone')) }),
    });
    const sick = await startAdminApp(backend, [personsRoutes], { store: failing });
    apps.push(sick);
    for (const path of ['/api/persons/alice/events', '/api/persons/alice/export']) {
      const r = await sick.call('GET', path, { key: sick.project.adminKey });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('5');
      expect(r.json).toMatchObject({ error: 'unavailable' });
    }
    await app.store.close();
    const closed = await app.call('GET', '/api/persons/alice/events', { key: adminKey });
    expect(closed.status).toBe(503);
  });

  it('a storage outage logs one error line per interval, with how many were left out, not one per request', async () => {
    const app = await start(backend);
    const failing = Object.create(app.store) as Store;
    failing.queryEvents = async () => {
      throw new StoreError('unreachable', 'connection refused');
    };
    const sick = await startAdminApp(backend, [personsRoutes], { store: failing });
    apps.push(sick);
    for (let i = 0; i < 25; i++) {
      expect(
        (await sick.call('GET', '/api/persons/alice/events', { key: sick.project.adminKey })).status,
      ).toBe(503);
    }
    const failed = sick.logs.filter((l) => l.includes('admin API request failed'));
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0]!)).toMatchObject({ level: 50, kind: 'unavailable' });
  });

  it('a failed erasure says the disk is full and that the same DELETE must be sent again', async () => {
    const app = await start(backend);
    const failing = Object.create(app.store) as Store;
    failing.erasePerson = async () => {
      throw new StoreError('disk-full', 'SQLite write failed: the disk is full (database or disk is full)');
    };
    const sick = await startAdminApp(backend, [personsRoutes], { store: failing });
    apps.push(sick);
    const r = await sick.call('DELETE', '/api/persons/alice', { key: sick.project.adminKey });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
    expect(r.json).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/disk is full.*send the same DELETE again/s),
    });
    // Bad input is still its own answer, not a half-done erasure.
    failing.erasePerson = async () => {
      throw new StoreError('invalid-input', 'distinct_id is too long');
    };
    expect((await sick.call('DELETE', '/api/persons/alice', { key: sick.project.adminKey })).status).toBe(
      400,
    );
  });
});

describe.each(BACKENDS)('person export failing mid-stream (%s)', (backend) => {
  it("logs the error's name, code and message only, never fields that quote a row", async () => {
    const fresh = await freshStore(backend);
    const failing = Object.create(fresh.store) as Store;
    failing.personEvents = async function* (projectId, distinctId) {
      for await (const e of fresh.store.personEvents(projectId, distinctId)) yield e;
      // What a driver's error carries, as PostgreSQL's `detail` does.
      throw Object.assign(new Error('read failed (injected)'), {
        code: 'XX000',
        detail: 'Key (distinct_id)=(row-secret-5e1a) failed',
      });
    };
    const app = await startAdminApp(backend, [personsRoutes], { store: failing });
    apps.push(app);
    try {
      await fresh.store.insertEvents(app.project.id, [ingestEvent({ distinctId: 'alice' })]);
      const res = await fetch(`${app.url}/api/persons/alice/export`, {
        headers: { authorization: `Bearer ${app.project.adminKey}` },
      });
      // The export is small: the failure comes before the headers go out (500); in a larger one
      // it cuts the download off. The same line is logged either way.
      await res.text().catch(() => undefined);
      await until(
        () => app.logs.join('').includes('person export failed mid-stream'),
        'the export failure log',
      );
      const line = JSON.parse(app.logs.find((l) => l.includes('person export failed mid-stream'))!) as Record<
        string,
        unknown
      >;
      expect(line).toMatchObject({
        kind: 'export-failed',
        error: { message: 'read failed (injected)', code: 'XX000' },
      });
      expect(app.logs.join('')).not.toContain('row-secret-5e1a');
    } finally {
      await fresh.dispose();
    }
  });
});

describe('exportPieces', () => {
  it('cuts a chunk one large event made into pieces a slow reader drains within the stall bound, never inside a surrogate pair', () => {
    // The emoji's halves are units 9 and 10: a cut at 10 would part them.
    const line = `${'x'.repeat(9)}😀${'y'.repeat(25)}"}}\n`;
    const pieces = [...exportPieces(line, 10)];
    expect(pieces.join('')).toBe(line);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(10);
    // Each piece encodes on its own (a response writes them one by one): no half emoji.
    expect(pieces.map((p) => Buffer.from(p, 'utf8').toString('utf8')).join('')).toBe(line);
    expect([...exportPieces('short\n', 10)]).toEqual(['short\n']);
  });
});

describe.each(BACKENDS)('person export to a client that stops reading (%s)', (backend) => {
  /** An app whose exports end after `stallMs` without a drain, and a store counting what it yields. */
  async function stallApp(stallMs: number, events: number) {
    const fresh = await freshStore(backend);
    const reads = { yielded: 0, ended: false };
    const counting = Object.create(fresh.store) as Store;
    counting.personEvents = async function* (projectId, distinctId) {
      try {
        for await (const e of fresh.store.personEvents(projectId, distinctId)) {
          reads.yielded++;
          yield e;
        }
      } finally {
        reads.ended = true;
      }
    };
    const withBound: FastifyPluginAsync<PersonsRouteOptions> = (f, o) =>
      personsRoutes(f, { ...o, exportStallMs: stallMs });
    const app = await startAdminApp(backend, [withBound], { store: counting });
    apps.push(app);
    apps.push({ close: fresh.dispose } as AdminApp);
    // 1 KB events: enough that the socket buffers on both sides fill well before the end.
    const pad = 'p'.repeat(1000);
    for (let i = 0; i < events; i += 1000) {
      await fresh.store.insertEvents(
        app.project.id,
        Array.from({ length: 1000 }, (_, j) => ingestEvent({ at: i + j, properties: { pad, n: i + j } })),
      );
    }
    const open = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(`${app.url}/api/persons/alice/export`, {
          headers: { authorization: `Bearer ${app.project.adminKey}` },
        });
        req.on('response', resolve).on('error', reject).end();
      });
    return { app, reads, open };
  }

  /** Reads `res` to its end or its break, pausing `pauseMs` after every `everyBytes`. */
  function readAll(res: IncomingMessage, everyBytes = Infinity, pauseMs = 0) {
    return new Promise<{ lines: number; complete: boolean }>((resolve) => {
      let lines = 0;
      let sincePause = 0;
      res.on('data', (chunk: Buffer) => {
        for (const byte of chunk) if (byte === 10) lines++;
        sincePause += chunk.length;
        if (sincePause >= everyBytes) {
          sincePause = 0;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('end', () => resolve({ lines, complete: res.complete }));
      res.on('error', () => resolve({ lines, complete: false }));
      res.on('aborted', () => resolve({ lines, complete: false }));
    });
  }

  it('ends the export and closes the connection once a write has not drained for the bound, logged once', async () => {
    const total = 30_000;
    const { app, reads, open } = await stallApp(300, total);
    const res = await open();
    res.pause();
    expect(res.statusCode).toBe(200);
    // Without the bound nothing ends: the store's pager and the socket stayed open for good.
    await until(() => reads.ended, 'the stalled export to be ended');
    expect(reads.yielded).toBeLessThan(total / 2);
    const stalled = app.logs.filter((l) => l.includes('export-stalled'));
    expect(stalled).toHaveLength(1);
    expect(JSON.parse(stalled[0]!)).toMatchObject({ level: 40, kind: 'export-stalled', stalledMs: 300 });
    // Nothing of the person or their events in the line.
    expect(stalled[0]).not.toMatch(/alice|pppp/);
    // The client, reading again, gets a download that breaks off, not one that looks whole.
    res.resume();
    const got = await readAll(res);
    expect(got.complete).toBe(false);
    expect(got.lines).toBeLessThan(total);
  }, 120_000);

  it('a client that reads slowly, pausing for less than the bound, gets the whole export', async () => {
    const total = 20_000;
    const { app, reads, open } = await stallApp(3000, total);
    const res = await open();
    // Pauses of 300 ms after every 2 MB: the server's writes wait for each, and drain after it.
    const got = await readAll(res, 2 * 1024 * 1024, 300);
    expect(got).toEqual({ lines: total, complete: true });
    expect(reads.yielded).toBe(total);
    expect(app.logs.join('')).not.toContain('export-stalled');
  }, 120_000);
});

describe.each(BACKENDS)('person export streams (%s)', (backend) => {
  it('a stalled download holds a bounded part of the export; resumed, it delivers every event', async () => {
    const fresh = await freshStore(backend);
    let yielded = 0;
    const counting = Object.create(fresh.store) as Store;
    counting.personEvents = async function* (projectId, distinctId) {
      for await (const e of fresh.store.personEvents(projectId, distinctId)) {
        yielded++;
        yield e;
      }
    };
    const app = await startAdminApp(backend, [personsRoutes], { store: counting });
    apps.push(app);
    apps.push({ close: fresh.dispose } as AdminApp);
    const total = 30_000;
    const pad = 'p'.repeat(1000);
    for (let i = 0; i < total; i += 1000) {
      await fresh.store.insertEvents(
        app.project.id,
        Array.from({ length: 1000 }, (_, j) => ingestEvent({ at: i + j, properties: { pad, n: i + j } })),
      );
    }

    const head = await app.call('HEAD', '/api/persons/alice/export');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-disposition')).toContain('homing-person-alice.ndjson');
    expect(yielded).toBe(0);

    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${app.url}/api/persons/alice/export`, {
        headers: { authorization: `Bearer ${app.project.adminKey}` },
      });
      req.on('response', resolve).on('error', reject).end();
    });
    res.pause();
    expect(res.statusCode).toBe(200);
    // Wait until the server has filled the socket buffers and stopped reading from the store.
    let last = -1;
    let stable = 0;
    await until(() => {
      stable = yielded === last ? stable + 1 : 0;
      last = yielded;
      return stable >= 15;
    }, 'the export to stop at the stalled socket');
    expect(yielded).toBeGreaterThan(0);
    expect(yielded).toBeLessThan(total / 2);

    let count = 0;
    let tail = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const parts = (tail + chunk).split('\n');
      tail = parts.pop()!;
      count += parts.length;
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    expect(tail).toBe('');
    expect(count).toBe(total);
    expect(yielded).toBe(total);
  }, 120_000);
});
