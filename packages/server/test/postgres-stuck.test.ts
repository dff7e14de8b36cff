import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startServer, type RunningServer } from '../src/startServer.js';
import { freshDatabase, lockWaiters, postgresReachable } from '../src/store/postgres.test-helpers.js';
import { ADMIN_KEY_HEADER } from '../src/routes/adminAuth.js';
import { bearer, logCapture, post, v7 } from './harness.js';

const reachable = await postgresReachable();

/** Generous: the old code waited forever; nothing here is a timing measurement. */
const BOUND_MS = 15_000;
function within<T>(p: Promise<T>, ms = BOUND_MS): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'still waiting'>((r) => (timer = setTimeout(() => r('still waiting'), ms))),
  ]).finally(() => clearTimeout(timer));
}

describe.skipIf(!reachable)('PostgreSQL stuck behind a lock (startServer, real server)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let locker: pg.Client;
  let running: RunningServer | undefined;

  const waiting = (): Promise<number> => lockWaiters(db.url);
  const count = async (table: string): Promise<number> =>
    Number((await locker.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(async () => {
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
  });
  afterEach(async () => {
    await locker.query('ROLLBACK').catch(() => {});
    await locker.end().catch(() => {});
    await running?.close();
    running = undefined;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('TRUNCATE projects, events, erasures, suppressions');
    await c.query('DROP TRIGGER IF EXISTS fail_sweep ON erasures; DROP FUNCTION IF EXISTS fail_sweep()');
    await c.end();
  });

  it('ingest answers 503 with Retry-After within the statement bound, and stores nothing', async () => {
    running = await startServer({ databaseUrl: db.url, port: 0, retentionDays: 0 });
    const project = await running.store.createProject('p');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    const answer = await within(
      post(`${running.url}/ingest`, [{ event: 'e', distinct_id: 'd', uuid: v7() }], bearer(project.writeKey)),
    );
    expect(answer).not.toBe('still waiting');
    const res = answer as Exclude<typeof answer, 'still waiting'>;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    // Readiness answers at once, without waiting for the lock, and says ingest cannot commit.
    const ready = await within(fetch(`${running.url}/readyz`));
    expect(ready).not.toBe('still waiting');
    expect((ready as Response).status).toBe(503);
    await locker.query('COMMIT');
    expect(await count('events')).toBe(0);
    // The store goes on once the lock is gone.
    const again = await post(
      `${running.url}/ingest`,
      [{ event: 'e', distinct_id: 'd', uuid: v7(1) }],
      bearer(project.writeKey),
    );
    expect(again.status).toBe(202);
    expect(await count('events')).toBe(1);
  }, 60_000);

  it('close() (what SIGTERM runs) ends within the grace period with an ingest and an erasure stuck, rolling both back', async () => {
    running = await startServer({ databaseUrl: db.url, port: 0, retentionDays: 0, shutdownGraceMs: 2_000 });
    const project = await running.store.createProject('p');
    const stored = await post(
      `${running.url}/ingest`,
      [{ event: 'e', distinct_id: 'alice', uuid: v7() }],
      bearer(project.writeKey),
    );
    expect(stored.status).toBe(202);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
    // An erasure's DELETE has the long bound (five minutes): only the shutdown can end it. It
    // waits for ingest writes in flight, so it goes first.
    const erasure = fetch(`${running.url}/api/persons/alice`, {
      method: 'DELETE',
      headers: { [ADMIN_KEY_HEADER]: project.adminKey },
    }).catch((err: unknown) => err);
    await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: BOUND_MS });
    const ingest = post(
      `${running.url}/ingest`,
      [{ event: 'e', distinct_id: 'bob', uuid: v7(1) }],
      bearer(project.writeKey),
    ).catch((err: unknown) => err);
    await vi.waitFor(async () => expect(await waiting()).toBe(2), { timeout: BOUND_MS });

    const server = running;
    running = undefined;
    expect(await within(server.close().then(() => 'closed'))).toBe('closed');
    // Cancelled, not abandoned: nothing of the server's waits for the lock, still held, to run
    // its statements later.
    expect(await waiting()).toBe(0);
    // Both answered 503 + Retry-After (the store closes before the connections do), not a reset.
    const [ingested, erased] = await Promise.all([ingest, erasure]);
    expect(ingested).toMatchObject({ status: 503 });
    expect((ingested as Awaited<ReturnType<typeof post>>).headers.get('retry-after')).not.toBeNull();
    expect(erased).toBeInstanceOf(Response);
    expect((erased as Response).status).toBe(503);
    await locker.query('COMMIT');
    expect(await count('events')).toBe(1);
    expect(await count('erasures')).toBe(0);
  }, 60_000);

  it('logs a failing second deletion (sweep) with its kind, never the person', async () => {
    const { stream, text: logs } = logCapture();
    running = await startServer({
      databaseUrl: db.url,
      port: 0,
      retentionDays: 0,
      logger: { level: 'info', stream },
    });
    const project = await running.store.createProject('p');
    await locker.query(`
      CREATE FUNCTION fail_sweep() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'sweep refused (injected)'; END $$;
      CREATE TRIGGER fail_sweep BEFORE UPDATE ON erasures FOR EACH ROW EXECUTE FUNCTION fail_sweep();`);
    // An erasure whose second deletion is already due.
    await locker.query(
      `INSERT INTO erasures (project_pk, distinct_id, requested_by, deleted_count, erased_at, erased_at_ms, sweep_due_ms)
       SELECT pk, 'secret-person-7f3a', 'admin', 0, $1, $2, 0 FROM projects WHERE id = $3`,
      [new Date().toISOString(), Date.now(), project.id],
    );
    await vi.waitFor(() => expect(logs()).toContain('store background work failed'), { timeout: BOUND_MS });
    const line = JSON.parse(
      logs()
        .split('\n')
        .find((l) => l.includes('store background work failed'))!,
    ) as {
      level: number;
      kind: string;
      code: string;
      message: string;
    };
    expect(line).toMatchObject({ level: 50, kind: 'storage', code: 'P0001' });
    expect(line.message).toContain('sweep refused (injected)');
    expect(logs()).not.toContain('secret-person-7f3a');
  }, 60_000);
});
