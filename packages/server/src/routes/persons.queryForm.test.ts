import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import {
  type AdminApp,
  BACKENDS,
  freshStore,
  ingestEvent,
  startAdminApp,
  ndjsonLines,
} from './adminApi.test-helpers.js';
import { DISTINCT_ID_HEADER, exportDisposition, personsRoutes } from './persons.js';
import { queryRoutes } from './query.js';

/**
 * The person routes with the id in the query string (`/api/persons/events?distinct_id=…`,
 * `/api/persons/export?…`, `DELETE /api/persons?…`), which reach ids a URL path cannot carry
 * (`.` and `..`: fetch, browsers and curl resolve them before the request leaves), and the id
 * every person answer names, so a caller can check it got the person it asked about.
 */

const apps: AdminApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function start(backend: (typeof BACKENDS)[number]): Promise<AdminApp> {
  // The query API too: `/api/persons/../events` as fetch sends it reaches `/api/events`.
  const app = await startAdminApp(backend, [personsRoutes, queryRoutes]);
  apps.push(app);
  return app;
}

const q = (id: string): string => `distinct_id=${encodeURIComponent(id)}`;

describe.each(BACKENDS)('person routes by query string (%s)', (backend) => {
  it('reach, export and erase the persons "." and "..", and no one else', async () => {
    const app = await start(backend);
    // Stored before ingest refused these ids (the store takes them).
    for (const id of ['..', '.', 'alice', 'bob']) {
      await app.store.insertEvents(app.project.id, [
        ingestEvent({ distinctId: id, properties: { owner: id } }),
        ingestEvent({ distinctId: id, at: 1, properties: { owner: id } }),
      ]);
    }
    await app.store.insertEvents(app.other.id, [ingestEvent({ distinctId: '..' })]);

    for (const id of ['..', '.']) {
      const page = await app.call('GET', `/api/persons/events?${q(id)}&limit=10`);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.json.distinct_id).toBe(id);
      expect(page.json.events.map((e: any) => e.distinct_id)).toEqual([id, id]);
      expect(page.json.next).toBeNull();

      const exp = await app.call('GET', `/api/persons/export?${q(id)}`);
      expect(exp.status).toBe(200);
      expect(exp.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      expect(exp.headers.get('content-disposition')).toBe(exportDisposition(id));
      expect(decodeURIComponent(exp.headers.get(DISTINCT_ID_HEADER)!)).toBe(id);
      expect(ndjsonLines(exp.text).map((e) => e.properties.owner)).toEqual([id, id]);
      const head = await app.call('HEAD', `/api/persons/export?${q(id)}`);
      expect(head.status).toBe(200);
      expect(head.headers.get(DISTINCT_ID_HEADER)).toBe(encodeURIComponent(id));
    }

    const erased = await app.call('DELETE', `/api/persons?${q('..')}`, {
      headers: { 'x-homing-actor': 'dpo' },
    });
    expect(erased.status).toBe(200);
    expect(erased.json).toEqual({ deleted: 2, distinct_id: '..' });
    expect((await app.call('DELETE', `/api/persons?${q('.')}`)).json).toEqual({
      deleted: 2,
      distinct_id: '.',
    });
    // Only those two persons, only in this project.
    const left = await app.call('GET', '/api/events?limit=100');
    expect(left.json.events.map((e: any) => e.distinct_id).sort()).toEqual(['alice', 'alice', 'bob', 'bob']);
    const other = await app.call('GET', '/api/events', { key: app.other.adminKey });
    expect(other.json.events.map((e: any) => e.distinct_id)).toEqual(['..']);
    const log = await app.call('GET', '/api/erasures');
    expect(log.json.erasures.map((e: any) => [e.distinct_id, e.deleted_count])).toEqual([
      ['.', 2],
      ['..', 2],
    ]);
    expect(log.json.erasures[1].requested_by).toMatch(/^dpo \(admin key sha256:[0-9a-f]{12}\)$/);
    // The erasure sticks as for the path form: the store refuses the person's old events.
    const late = await app.store.insertEvents(app.project.id, [ingestEvent({ distinctId: '..' })]);
    expect(late).toMatchObject({ accepted: 0, erased: 1 });
  });

  it('persons named "events" and "export" keep the path form beside the query routes', async () => {
    const app = await start(backend);
    for (const id of ['events', 'export', 'alice']) {
      await app.store.insertEvents(app.project.id, [
        ingestEvent({ distinctId: id, properties: { owner: id } }),
      ]);
    }
    const owners = (r: { json: any }) => r.json.events.map((e: any) => e.properties.owner);
    const byPath = await app.call('GET', '/api/persons/events/events');
    expect([byPath.json.distinct_id, owners(byPath)]).toEqual(['events', ['events']]);
    const exportByPath = await app.call('GET', '/api/persons/export/events');
    expect([exportByPath.json.distinct_id, owners(exportByPath)]).toEqual(['export', ['export']]);
    const file = await app.call('GET', '/api/persons/events/export');
    expect(ndjsonLines(file.text).map((e) => e.properties.owner)).toEqual(['events']);
    expect(file.headers.get(DISTINCT_ID_HEADER)).toBe('events');
    const file2 = await app.call('GET', '/api/persons/export/export');
    expect(ndjsonLines(file2.text).map((e) => e.properties.owner)).toEqual(['export']);
    const byQuery = await app.call('GET', `/api/persons/events?${q('export')}`);
    expect([byQuery.json.distinct_id, owners(byQuery)]).toEqual(['export', ['export']]);
    // DELETE /api/persons/events is the person "events" (the query form is DELETE /api/persons).
    expect((await app.call('DELETE', '/api/persons/events')).json).toEqual({
      deleted: 1,
      distinct_id: 'events',
    });
    expect((await app.call('DELETE', '/api/persons/export')).json).toEqual({
      deleted: 1,
      distinct_id: 'export',
    });
    expect(owners(await app.call('GET', '/api/events'))).toEqual(['alice']);
  });

  it('refuses what the path form refuses, a missing or repeated id included; nothing is erased', async () => {
    const app = await start(backend);
    await app.store.insertEvents(app.project.id, [ingestEvent(), ingestEvent({ distinctId: 'bob' })]);
    const bad: [string, string][] = [
      ['GET', '/api/persons/events'],
      ['GET', '/api/persons/events?distinct_id='],
      ['GET', '/api/persons/events?distinct_id=a%00b'],
      ['GET', `/api/persons/events?distinct_id=${'x'.repeat(1001)}`],
      ['GET', '/api/persons/events?distinct_id=alice&distinct_id=bob'],
      ['GET', '/api/persons/events?distinct_id=alice&limit=0'],
      ['GET', '/api/persons/events?distinctId=alice'],
      ['GET', '/api/persons/export'],
      ['GET', '/api/persons/export?distinct_id=alice&format=csv'],
      ['GET', '/api/persons/export?distinct_id=alice&distinct_id=bob'],
      ['DELETE', '/api/persons'],
      ['DELETE', '/api/persons?distinct_id='],
      ['DELETE', '/api/persons?distinct_id=%00'],
      ['DELETE', '/api/persons?distinct_id=alice&distinct_id=bob'],
      ['DELETE', '/api/persons?distinctId=alice'],
      // The path form takes no id in its query string: which one would it be?
      ['GET', '/api/persons/alice/events?distinct_id=bob'],
      ['DELETE', '/api/persons/alice?distinct_id=bob'],
    ];
    for (const [method, path] of bad) {
      const r = await app.call(method, path);
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 400 });
      expect(r.json).toMatchObject({ error: 'invalid-request', message: expect.any(String) });
    }
    for (const [method, path] of [
      ['GET', '/api/persons/events?distinct_id=alice'],
      ['GET', '/api/persons/export?distinct_id=alice'],
      ['DELETE', '/api/persons?distinct_id=alice'],
    ] as const) {
      expect((await app.call(method, path, { key: null })).status).toBe(401);
      expect((await app.call(method, path, { key: app.project.writeKey })).status).toBe(403);
    }
    expect((await app.call('GET', '/api/erasures')).json.erasures).toEqual([]);
    expect((await app.call('GET', '/api/events')).json.events).toHaveLength(2);
  });
});

describe.each(BACKENDS)('person routes of a whole server, as fetch sends them (%s)', (backend) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** buildServer (its router options: trailing slashes ignored) over a fresh store; its log lines. */
  async function startWhole() {
    const fresh = await freshStore(backend);
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const app = buildServer({ store: fresh.store, logger: pino({ level: 'info' }, sink) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      await app.close();
      await fresh.dispose();
    });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const project = await fresh.store.createProject('p');
    const call = async (method: string, path: string) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${project.adminKey}` },
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
    };
    return { url, store: fresh.store, project, logs, call };
  }

  it('the path form for "." and ".." never answers as that person; the query form does', async () => {
    const s = await startWhole();
    await s.store.insertEvents(s.project.id, [
      ingestEvent({ distinctId: '..' }),
      ingestEvent({ distinctId: '.' }),
      ingestEvent({ distinctId: 'alice' }),
    ]);
    // fetch sends `/api/persons/./events` as `/api/persons/events`: the query form, without an id.
    const dot = await s.call('GET', `/api/persons/${encodeURIComponent('.')}/events`);
    expect(dot.status).toBe(400);
    expect(dot.json).toMatchObject({
      error: 'invalid-request',
      message: expect.stringContaining('?distinct_id='),
    });
    // `DELETE /api/persons/.` arrives as `DELETE /api/persons/`, `/api/persons/..` as `/api/`.
    expect((await s.call('DELETE', `/api/persons/${encodeURIComponent('.')}`)).status).toBe(400);
    expect((await s.call('DELETE', `/api/persons/${encodeURIComponent('..')}`)).status).toBe(404);
    // `/api/persons/../events` arrives as `/api/events`, whose answer names no person: a caller
    // that checks `distinct_id` sees it did not get the person page it asked for.
    const dotdot = await s.call('GET', `/api/persons/${encodeURIComponent('..')}/events`);
    expect(dotdot.status).toBe(200);
    expect(dotdot.json.distinct_id).toBeUndefined();
    expect((await s.call('GET', '/api/erasures')).json.erasures).toEqual([]);
    const exact = await s.call('GET', `/api/persons/events?${q('..')}`);
    expect([exact.json.distinct_id, exact.json.events.map((e: any) => e.distinct_id)]).toEqual([
      '..',
      ['..'],
    ]);
    expect((await s.call('DELETE', `/api/persons/?${q('.')}`)).json).toEqual({
      deleted: 1,
      distinct_id: '.',
    });
  });

  it("a browser admin page may read the export's person header", async () => {
    const s = await startWhole();
    const res = await fetch(`${s.url}/api/persons/export?${q('ann é')}`, {
      headers: { authorization: `Bearer ${s.project.adminKey}`, origin: 'https://admin.example' },
    });
    await res.arrayBuffer();
    expect(res.headers.get(DISTINCT_ID_HEADER)).toBe('ann%20%C3%A9');
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining([DISTINCT_ID_HEADER, 'content-disposition']));
  });

  it('logs the query form as the path form: the route pattern and the erasure, never the id', async () => {
    const s = await startWhole();
    const SECRET = 'person-5e1c';
    await s.store.insertEvents(s.project.id, [ingestEvent({ distinctId: SECRET })]);
    for (const [method, path] of [
      ['GET', `/api/persons/events?${q(SECRET)}`],
      ['GET', `/api/persons/export?${q(SECRET)}`],
      ['DELETE', `/api/persons?${q(SECRET)}`],
    ] as const) {
      expect((await s.call(method, path)).status).toBe(200);
    }
    const parsed = s.logs.map((l) => JSON.parse(l) as { msg: string; req?: unknown; deleted?: number });
    expect(parsed.filter((l) => l.msg === 'request completed').map((l) => l.req)).toEqual([
      { method: 'GET', route: '/api/persons/events' },
      { method: 'GET', route: '/api/persons/export' },
      { method: 'DELETE', route: '/api/persons' },
    ]);
    expect(parsed.filter((l) => l.msg === 'person erased')).toEqual([
      expect.objectContaining({ deleted: 1, requestedBy: expect.stringMatching(/^admin key sha256:/) }),
    ]);
    expect(s.logs.join('\n')).not.toContain(SECRET);
  });
});
