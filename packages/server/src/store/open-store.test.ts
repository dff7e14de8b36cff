import { describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore } from './postgres.js';
import { tempDir } from './sqlite.test-helpers.js';
import { SqliteStore } from './sqlite.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

describe('openStore', () => {
  it('opens SQLite in the data directory when no URL is given, migrated', async () => {
    for (const databaseUrl of [undefined, '', '  ']) {
      const store = await openStore({ databaseUrl, dataDir: tempDir() });
      expect(store).toBeInstanceOf(SqliteStore);
      const p = await store.createProject('p');
      expect(await store.insertEvents(p.id, [ev()])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      await store.close();
    }
  });

  it('refuses an unknown scheme with a typed error saying what to use', async () => {
    for (const databaseUrl of ['mysql://root@localhost/db', 'sqlite:///tmp/x.db', 'not a url', 'http://x']) {
      const err = await openStore({ databaseUrl, dataDir: tempDir() }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'unsupported-url' });
      expect((err as Error).message).toContain('postgres://');
    }
  });

  it('names an unreachable PostgreSQL', async () => {
    const err = await openStore({
      databaseUrl: 'postgresql://postgres@127.0.0.1:1/x',
      dataDir: tempDir(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unreachable' });
  });

  it.skipIf(!reachable)('opens PostgreSQL for postgres:// and postgresql:// URLs, migrated', async () => {
    const db = await freshDatabase();
    try {
      for (const url of [db.url, db.url.replace(/^postgres:/, 'postgresql:')]) {
        const store = await openStore({ databaseUrl: url, dataDir: tempDir() });
        expect(store).toBeInstanceOf(PostgresStore);
        await store.createProject('p');
        await store.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('hands maxPropertiesChars to either store', async () => {
    const big = ev({ properties: { text: 'x'.repeat(1_500_000) } });
    const kinds: (() => Promise<{ url?: string; drop(): Promise<void> }>)[] = [
      async () => ({ drop: async () => {} }),
    ];
    if (reachable) kinds.push(freshDatabase);
    for (const kind of kinds) {
      const db = await kind();
      try {
        const store = await openStore({
          databaseUrl: db.url,
          dataDir: tempDir(),
          maxPropertiesChars: 3_000_000,
        });
        const p = await store.createProject('p');
        expect(await store.insertEvents(p.id, [big])).toMatchObject({ accepted: 1 });
        await store.close();
        const small = await openStore({ databaseUrl: db.url, dataDir: tempDir(), maxPropertiesChars: 1000 });
        await expect(
          small.insertEvents(p.id, [ev({ properties: { text: 'x'.repeat(2000) } })]),
        ).rejects.toThrow(/properties too large: \d+ characters, limit 1000/);
        await small.close();
      } finally {
        await db.drop();
      }
    }
  });

  it.skipIf(!reachable)('names a database that does not exist as unreachable', async () => {
    const url = new URL(process.env.HOMING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    url.pathname = '/homing_no_such_database';
    const err = await openStore({ databaseUrl: url.toString(), dataDir: tempDir() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unreachable' });
  });
});
