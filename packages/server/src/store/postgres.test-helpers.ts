import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from './postgres.js';
import type { StoreHarness } from './store.contract.js';

export const PG_URL = process.env.HOMING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REQUIRE_SERVICES = process.env.HOMING_REQUIRE_SERVICES === '1';

/** True when PostgreSQL answers; throws instead when HOMING_REQUIRE_SERVICES=1. */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (err) {
    if (REQUIRE_SERVICES)
      throw new Error(`PostgreSQL required at ${PG_URL} but unreachable: ${(err as Error).message}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database `homing_test_<random>`; answers its URL and a function dropping it. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `homing_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export async function openPostgres(url: string): Promise<PostgresStore> {
  const store = new PostgresStore({ url });
  await store.migrate();
  return store;
}

/** Harness on one database shared by the file's tests, emptied before each test. */
export function postgresHarness(url: () => string): () => Promise<StoreHarness> {
  return async () => {
    const opened: PostgresStore[] = [];
    const open = async (): Promise<PostgresStore> => {
      const s = await openPostgres(url());
      opened.push(s);
      return s;
    };
    const exec = async (sql: string): Promise<void> => {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    const store = await open();
    await exec('TRUNCATE projects, events, erasures, suppressions, erased_keys');
    return {
      store,
      openAnother: open,
      async injectPoisonFault() {
        await exec(`
          CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN IF NEW.event = 'poison' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
          CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison();`);
        return () => exec('DROP TRIGGER poison ON events; DROP FUNCTION poison();');
      },
      async dispose() {
        for (const s of opened) await s.close();
      },
    };
  };
}

/**
 * Backends of the database at `url` waiting for a lock. Asked on a connection of its own: inside
 * a test's open transaction, pg_stat_activity would stay as it was at its first read.
 */
export async function lockWaiters(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}
