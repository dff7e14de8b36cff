import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../src/app.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { onOtherConnection, openSqlite, tempDir } from '../src/store/sqlite.test-helpers.js';
import type { Project } from '../src/store/store.js';
import { bearer, post } from './harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A server on SQLite, and beside it the store `homing projects` opens on the same data directory
 * (projects only, as another process would).
 */
async function serving(): Promise<{
  dir: string;
  store: SqliteStore;
  cli: SqliteStore;
  app: FastifyInstance;
  url: string;
}> {
  const dir = tempDir();
  const store = await openSqlite({ dataDir: dir });
  const cli = new SqliteStore({ dataDir: dir, projectsOnly: true });
  await cli.migrate();
  const app = buildServer({ store, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  let closed = false;
  cleanups.push(async () => {
    if (!closed) {
      closed = true;
      await app.close();
      await cli.close();
      await store.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, cli, app, url };
}

function batch(n: number, event = 'e'): { uuid: string; event: string; distinct_id: string }[] {
  return Array.from({ length: n }, () => ({ uuid: randomUUID(), event, distinct_id: 'p' }));
}

/** Sends with `key` until an answer is 401; answers the statuses. */
async function sendUntilRefused(url: string, key: string): Promise<number[]> {
  const statuses: number[] = [];
  for (;;) {
    const r = await post(`${url}/ingest`, batch(5), bearer(key));
    statuses.push(r.status);
    if (r.status === 401) return statuses;
  }
}

function count(dir: string, file: string, sql: string, ...params: unknown[]): number {
  const db = new Database(join(dir, file), { readonly: true });
  try {
    return db
      .prepare(sql)
      .pluck()
      .get(...params) as number;
  } finally {
    db.close();
  }
}

describe('project keys and removal under a running server (SQLite)', () => {
  it('rotate: the old write key is refused (once the server looks again), the new one works; old admin keys at once', async () => {
    const s = await serving();
    const p = await s.store.createProject('p');
    expect((await post(`${s.url}/ingest`, batch(1), bearer(p.writeKey))).status).toBe(202);
    const rotated = await s.cli.rotateProjectKeys(p.id, { write: true, admin: true });
    expect((await post(`${s.url}/ingest`, batch(1, 'new key'), bearer(rotated.writeKey))).status).toBe(202);
    const statuses = await sendUntilRefused(s.url, p.writeKey);
    expect(new Set(statuses)).toEqual(new Set(statuses.length === 1 ? [401] : [202, 401]));
    const old = await fetch(`${s.url}/api/events`, { headers: bearer(p.adminKey) });
    expect(old.status).toBe(401);
    const events = await fetch(`${s.url}/api/events?event=new%20key`, { headers: bearer(rotated.adminKey) });
    expect(((await events.json()) as { events: unknown[] }).events).toHaveLength(1);
  });

  it('remove while the server ingests into it: nothing of it is left, the other project is untouched', async () => {
    const s = await serving();
    const kept = await s.store.createProject('kept');
    const gone = await s.store.createProject('gone');
    const gonePk = count(s.dir, 'homing.db', 'SELECT pk FROM projects WHERE id = ?', gone.id);
    for (let i = 0; i < 5; i++) await s.store.insertEvents(gone.id, batch(1000).map(toEvent));
    await s.store.insertEvents(gone.id, [
      toEvent({ uuid: randomUUID(), event: 'x', distinct_id: 'erase-me' }),
    ]);
    expect(await s.store.erasePerson(gone.id, 'erase-me', 'admin')).toBe(1);

    // The server's clock (Date only) stands still until moved on below: its key cache keeps the
    // removed project's write key until then, as it would for up to a second.
    let now = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now });
    // Ingest goes on into both projects while the removal runs.
    let keptAccepted = 0;
    let stop = false;
    const send = (key: string) => post(`${s.url}/ingest`, batch(10), bearer(key));
    // Both keys known to the server before the removal begins.
    expect((await send(gone.writeKey)).status).toBe(202);
    keptAccepted += ((await send(kept.writeKey)).json as { accepted: number }).accepted;
    const keptSender = (async () => {
      while (!stop) {
        const r = await send(kept.writeKey);
        expect(r.status).toBe(202);
        keptAccepted += (r.json as { accepted: number }).accepted;
      }
    })();
    const goneSenders = [0, 1].map(async () => {
      while (!stop) {
        const r = await send(gone.writeKey);
        expect(r.status).toBe(202);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const progress: number[] = [];
    const removal = await s.cli.removeProject(gone.id, { onProgress: (done) => progress.push(done) });
    expect(removal.events).toBeGreaterThanOrEqual(5000);
    expect(removal).toMatchObject({ erasures: 1, suppressions: 1, erasedKeys: 1 });
    expect(progress.length).toBeGreaterThan(1);
    // Still answered from the key cache after the removal: acknowledged, and never stored.
    for (let i = 0; i < 3; i++) expect((await send(gone.writeKey)).status).toBe(202);
    stop = true;
    await Promise.all([...goneSenders, keptSender]);
    // A second later the server has looked at the keys version again, and refuses the key.
    now += 1000;
    vi.setSystemTime(now);
    expect((await send(gone.writeKey)).status).toBe(401);
    vi.useRealTimers();

    await s.store.drain();
    const keptEvents = await s.store.queryEvents({ projectId: kept.id, limit: 1000 });
    expect(keptEvents.length).toBe(Math.min(keptAccepted, 1000));
    await s.app.close();
    await s.cli.close();
    await s.store.close();
    for (const table of ['events', 'erasures', 'suppressions', 'erased_keys'])
      expect(count(s.dir, 'homing.db', `SELECT count(*) FROM ${table} WHERE project_pk = ?`, gonePk)).toBe(0);
    expect(count(s.dir, 'homing.db', 'SELECT count(*) FROM projects WHERE id = ?', gone.id)).toBe(0);
    expect(
      count(s.dir, 'ingest-log.db', 'SELECT count(*) FROM ingest_log WHERE project_pk = ?', gonePk),
    ).toBe(0);
    expect(count(s.dir, 'homing.db', 'SELECT count(*) FROM events')).toBe(keptAccepted);
  });

  it('a project row deleted by hand: the next project inherits none of its events (audit probe pkreuse)', async () => {
    const dir = tempDir();
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    let store = await openSqlite({ dataDir: dir });
    await store.createProject('A');
    const b = await store.createProject('B (customer that left)');
    await store.insertEvents(b.id, [
      toEvent({ uuid: randomUUID(), event: 'signup', distinct_id: 'bob@b-corp.example' }),
    ]);
    await store.close();
    onOtherConnection(dir, `DELETE FROM projects WHERE id = '${b.id}'`);
    store = await openSqlite({ dataDir: dir });
    const c = await store.createProject('C (new customer)');
    const app = buildServer({ store, logger: false });
    cleanups.push(async () => {
      await app.close();
      await store.close();
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    expect(await readAll(url, c)).toEqual([]);
  });

  it('live: a cached write key of a project deleted by hand writes nothing into the next project (audit probe pkreuse)', async () => {
    const s = await serving();
    await s.store.createProject('A');
    const b = await s.store.createProject('B');
    expect((await post(`${s.url}/ingest`, batch(1, 'b_before'), bearer(b.writeKey))).status).toBe(202);
    onOtherConnection(s.dir, `DELETE FROM events; DELETE FROM projects WHERE id = '${b.id}'`);
    const c = await s.store.createProject('C');
    // Answered from the server's key cache (a deletion by hand changes no keys version).
    await post(`${s.url}/ingest`, batch(1, 'b_after_removal'), bearer(b.writeKey));
    expect(await readAll(s.url, c)).toEqual([]);
  });
});

async function readAll(url: string, p: Project): Promise<unknown[]> {
  const r = await fetch(`${url}/api/events`, { headers: bearer(p.adminKey) });
  expect(r.status).toBe(200);
  return ((await r.json()) as { events: unknown[] }).events;
}

function toEvent(e: { uuid: string; event: string; distinct_id: string }) {
  const now = new Date().toISOString();
  return {
    uuid: e.uuid,
    event: e.event,
    distinctId: e.distinct_id,
    timestamp: now,
    originalTimestamp: null,
    receivedAt: now,
    properties: {},
  };
}
