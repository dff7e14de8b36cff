import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, openPostgres, postgresHarness, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore } from './postgres.js';
import { describeStoreContract, ev } from './store.contract.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgresStore', () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  describeStoreContract(
    'PostgreSQL',
    postgresHarness(() => db.url),
  );

  it('several processes starting at once migrate once, under the advisory lock', async () => {
    const fresh = await freshDatabase();
    try {
      const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: fresh.url }));
      await Promise.all(stores.map((s) => s.migrate()));
      const p = await stores[0]!.createProject('p');
      expect(await stores[3]!.insertEvents(p.id, [ev()])).toEqual({ accepted: 1, duplicates: 0 });
      await Promise.all(stores.map((s) => s.close()));
      const again = await openPostgres(fresh.url);
      expect(await again.listProjects()).toHaveLength(1);
      await again.close();
    } finally {
      await fresh.drop();
    }
  });

  it('answers unreachable with a typed error that names what to check, not the password', async () => {
    const store = new PostgresStore({
      url: 'postgres://someone:s3cret@127.0.0.1:1/nowhere',
      connectTimeoutMs: 2000,
    });
    const err = await store.ping().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unreachable' });
    expect(String((err as Error).message)).not.toContain('s3cret');
    expect(String((err as Error).message)).toContain('HOMING_DATABASE_URL');
    await store.close();
  });
});
