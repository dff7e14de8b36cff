// The server's storage alone: events/s into SQLite and PostgreSQL in 100-event batches, with
// time-ordered (v7) and random (v4) uuids, against a plain INSERT OR IGNORE per batch.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { NoopStore, PostgresStore, SqliteStore } from '../../packages/server/dist/store/index.js';

const EVENTS = Number(process.env.HOMING_BENCH_STORE_EVENTS ?? 400_000);
const BATCH = 100;
const IN_FLIGHT = 32;
const PG_URL = process.env.HOMING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const title = 'Server storage: events/s in 100-event batches (store alone, one process)';
export const notes = [
  '`ack` is the rate at which insertEvents resolves, i.e. the batch is committed (SQLite: to the',
  'ingest log, WAL, synchronous=NORMAL unless marked FULL; survives a process crash, a power loss',
  'may lose the last transactions). The expander worker moves the log into the indexed events table',
  'on its own thread from the first row, during ingest too: `expansion alone` is the events over the',
  'time it needs for the backlog left when ingest stops; `through expansion` is events over the whole',
  'time until every event is in the events table, which is what the store keeps up forever.',
  'The baseline is a plain `INSERT OR IGNORE` into the same table and indexes, one transaction per',
  'batch. PostgreSQL runs one unnest INSERT … ON CONFLICT DO NOTHING per batch, 8 batches in flight.',
  `${EVENTS.toLocaleString('en-US')} events per SQLite row (fresh database each), 10 000 distinct persons.`,
].join('\n');

function v7() {
  const h = Date.now().toString(16).padStart(12, '0');
  const r = randomUUID();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}

/**
 * Batches are built as they are sent (from pre-made uuids), as a server builds them from each
 * request body: a heap holding every event of the run would measure the garbage collector.
 */
function makeBatches(kind, events = EVENTS) {
  const now = new Date().toISOString();
  const uuids = Array.from({ length: events }, () => (kind === 'v4' ? randomUUID() : v7()));
  const persons = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  return {
    length: events / BATCH,
    *[Symbol.iterator]() {
      for (let b = 0; b < events / BATCH; b++) {
        yield Array.from({ length: BATCH }, (_, i) => ({
          uuid: uuids[b * BATCH + i],
          event: i % 10 === 0 ? 'signup' : 'page_view',
          distinctId: persons[(Math.random() * 10_000) | 0],
          timestamp: now,
          originalTimestamp: now,
          receivedAt: now,
          properties: {
            $lib: 'homing-node',
            $lib_version: '0.1.0',
            path: '/pricing',
            referrer: 'https://example.com/',
            n: i,
          },
        }));
      }
    },
  };
}

async function pump(store, projectId, batches, inFlight = IN_FLIGHT) {
  const pending = new Set();
  for (const b of batches) {
    const p = store.insertEvents(projectId, b).then(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  }
  await Promise.all(pending);
}

async function sqliteRun(kind, options = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'homing-bench-store-'));
  const store = new SqliteStore({ dataDir, ...options });
  await store.migrate();
  const p = await store.createProject('bench');
  const batches = makeBatches(kind);
  globalThis.gc?.();
  const t0 = performance.now();
  await pump(store, p.id, batches);
  const t1 = performance.now();
  await store.drain();
  const t2 = performance.now();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    ack: (EVENTS / (t1 - t0)) * 1000,
    expand: (EVENTS / (t2 - t1)) * 1000,
    through: (EVENTS / (t2 - t0)) * 1000,
  };
}

/** Plain INSERT OR IGNORE, one transaction per batch, same schema as SqliteStore's events. */
async function baseline(kind) {
  const dataDir = mkdtempSync(join(tmpdir(), 'homing-bench-store-'));
  const s = new SqliteStore({ dataDir });
  await s.migrate(); // the same schema and indexes
  await s.close();
  const db = new Database(join(dataDir, 'homing.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -262144');
  const ins = db.prepare(
    `INSERT OR IGNORE INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
     VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const tx = db.transaction((batch) => {
    for (const e of batch) {
      const key = Buffer.from(e.uuid.replace(/-/g, ''), 'hex');
      ins.run(
        key,
        null,
        e.event,
        e.distinctId,
        Date.parse(e.timestamp),
        e.originalTimestamp,
        e.receivedAt,
        JSON.stringify(e.properties),
      );
    }
  });
  const batches = makeBatches(kind);
  globalThis.gc?.();
  const t0 = performance.now();
  for (const b of batches) tx(b);
  const t1 = performance.now();
  db.close();
  rmSync(dataDir, { recursive: true, force: true });
  return (EVENTS / (t1 - t0)) * 1000;
}

async function postgresRun(kind) {
  const name = `homing_bench_${process.pid}_${kind}`;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const events = Math.min(EVENTS, 200_000);
  try {
    const store = new PostgresStore({ url: url.toString() });
    await store.migrate();
    const p = await store.createProject('bench');
    const batches = makeBatches(kind, events);
    const t0 = performance.now();
    await pump(store, p.id, batches, 8);
    const t1 = performance.now();
    await store.close();
    return (events / (t1 - t0)) * 1000;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function noopRun() {
  const store = new NoopStore();
  const batches = makeBatches('v4', 200_000);
  const t0 = performance.now();
  await pump(store, store.project.id, batches);
  return (200_000 / (performance.now() - t0)) * 1000;
}

export async function run() {
  const rows = [];
  const row = (work, homing, competitor, competitorValue, goal = '') =>
    rows.push({ work, homing, competitor, competitorValue, unit: 'events/s', better: 'higher', goal });
  row('no-op store (ceiling)', await noopRun(), null, null);
  for (const kind of ['v7', 'v4']) {
    const base = await baseline(kind);
    const normal = await sqliteRun(kind);
    row(
      `SQLite ${kind}: ack (committed to the log)`,
      normal.ack,
      'plain INSERT OR IGNORE per batch',
      base,
      '≥ 200 000',
    );
    row(
      `SQLite ${kind}: expansion alone (log → events table)`,
      normal.expand,
      'plain INSERT OR IGNORE per batch',
      base,
    );
    row(
      `SQLite ${kind}: through expansion (ack + expansion, one thread)`,
      normal.through,
      'plain INSERT OR IGNORE per batch',
      base,
      '≥ 200 000',
    );
    const full = await sqliteRun(kind, { synchronous: 'full' });
    row(`SQLite ${kind}, synchronous=FULL: ack`, full.ack, 'plain INSERT OR IGNORE per batch', base);
    const pgRate = await postgresRun(kind);
    row(`PostgreSQL ${kind}`, pgRate, null, null);
  }
  return rows;
}
