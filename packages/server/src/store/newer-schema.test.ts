import { rmSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { onOtherConnection, tempDir } from './sqlite.test-helpers.js';

const reachable = await postgresReachable();
const newest = (ms: readonly { version: number }[]): number => Math.max(...ms.map((m) => m.version));

describe('a database a newer Homing migrated', () => {
  it('SQLite: refuses to open it, naming both schema versions', async () => {
    const dir = tempDir();
    try {
      await (await openStore({ dataDir: dir })).close();
      const future = newest(SQLITE_MIGRATIONS) + 1;
      onOtherConnection(
        dir,
        `INSERT INTO schema_migrations VALUES (${future}, 'from a newer homing', '2030-01-01T00:00:00.000Z')`,
      );
      const err = await openStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'migration' });
      expect((err as Error).message).toContain(
        `written by a newer Homing (schema v${future}; this one knows up to v${newest(SQLITE_MIGRATIONS)}): run that version or newer`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!reachable)('PostgreSQL: refuses to open it, naming both schema versions', async () => {
    const db = await freshDatabase();
    try {
      await (await openStore({ databaseUrl: db.url, dataDir: '/nonexistent' })).close();
      const future = newest(POSTGRES_MIGRATIONS) + 1;
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query(`INSERT INTO schema_migrations VALUES ($1, 'from a newer homing', '2030')`, [
        future,
      ]);
      await client.end();
      const err = await openStore({ databaseUrl: db.url, dataDir: '/nonexistent' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'migration' });
      expect((err as Error).message).toContain(
        `written by a newer Homing (schema v${future}; this one knows up to v${newest(POSTGRES_MIGRATIONS)}): run that version or newer`,
      );
    } finally {
      await db.drop();
    }
  });
});
