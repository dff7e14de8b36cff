import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from './app.js';
import { openSqlite, tempDir } from './store/sqlite.test-helpers.js';
import type { Store } from './store/store.js';

describe('buildServer: router and CORS settings', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(): Promise<{ url: string; store: Store }> {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const app = buildServer({ logger: false, store, corsOrigins: ['https://admin.example'] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    cleanups.push(async () => {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { url: `http://127.0.0.1:${port}`, store };
  }

  it('serves a person whose distinct_id is far longer than 100 URL-encoded characters', async () => {
    const { url, store } = await start();
    const project = await store.createProject('p');
    // 1000 characters is the store's limit; URL-encoded, non-ASCII ones take up to 9 each.
    const id = `${'é'.repeat(500)}/${'x'.repeat(499)}`;
    const now = new Date().toISOString();
    await store.insertEvents(project.id, [
      {
        uuid: '0193a5c0-0000-7000-8000-0000000000a1',
        event: 'e',
        distinctId: id,
        timestamp: now,
        originalTimestamp: null,
        receivedAt: now,
        properties: {},
      },
    ]);
    const path = `/api/persons/${encodeURIComponent(id)}/events`;
    expect(path.length).toBeGreaterThan(3000);
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${project.adminKey}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: { distinct_id: string }[] };
    expect(body.events.map((e) => e.distinct_id)).toEqual([id]);
    // Beyond the limit the answer is still a 400 naming it, not a bare 404.
    const tooLong = await fetch(`${url}/api/persons/${'z'.repeat(9001)}/events`, {
      headers: { authorization: `Bearer ${project.adminKey}` },
    });
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { message: string }).message).toContain('9000');
  });

  it('preflights allow the admin headers and answers expose content-disposition and retry-after', async () => {
    const { url } = await start();
    const pre = await fetch(`${url}/api/persons/alice`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://admin.example',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'x-homing-admin-key, x-homing-actor, content-encoding',
      },
    });
    expect(pre.status).toBe(204);
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(/\s*,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining([
        'authorization',
        'content-type',
        'content-encoding',
        'x-homing-admin-key',
        'x-homing-actor',
      ]),
    );
    const get = await fetch(`${url}/healthz`, { headers: { origin: 'https://admin.example' } });
    const exposed = (get.headers.get('access-control-expose-headers') ?? '').split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['content-disposition', 'retry-after']));
  });
});
