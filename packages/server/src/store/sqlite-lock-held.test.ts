import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { healthRoutes } from '../routes/health.js';
import { StoreError } from './errors.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore } from './sqlite.js';
import { ev } from './store.contract.js';

/** A generous bound for "answers instead of hanging": far above the store's own bounds here. */
const HANG_BOUND_MS = 20_000;

const batch = (n: number) => Array.from({ length: n }, () => ev({ uuid: randomUUID() }));

/** Another process's write lock on homing.db (an operator's `sqlite3` session in `BEGIN IMMEDIATE`). */
function holdWriteLock(dir: string): Database.Database {
  const other = new Database(join(dir, 'homing.db'), { timeout: 10_000 });
  other.exec('BEGIN IMMEDIATE');
  return other;
}

function settleWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return Promise.race([
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms),
    ),
  ]);
}

/** Pings until it fails (or the bound passes): readiness is looked at, not awaited once. */
async function notReadyWithin(store: SqliteStore, ms: number): Promise<unknown> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      await store.ping();
    } catch (err) {
      return err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

describe('SqliteStore with another process holding homing.db write lock', () => {
  const dirs: string[] = [];
  const locks: Database.Database[] = [];
  afterEach(() => {
    for (const l of locks.splice(0)) if (l.open) l.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a call held by backpressure after the bound, stores nothing of it, and says it is not ready', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const opts = { dataDir: dir, maxPendingEvents: 200, busyTimeoutMs: 1000 };
    const store = await openSqlite(opts);
    const project = await store.createProject('p');
    await store.ping();
    const lock = holdWriteLock(dir);
    locks.push(lock);

    // Up to maxPendingEvents the log takes them (the expander cannot move them on).
    const kept = [batch(100), batch(100)];
    for (const b of kept) await store.insertEvents(project.id, b);
    // Past it, the call waits for an expander that makes no progress: refused, not hung.
    const refused = batch(100);
    const answer = await settleWithin(store.insertEvents(project.id, refused), HANG_BOUND_MS);
    expect(answer.ok).toBe(false);
    expect(answer.ok ? null : (answer.error as StoreError).kind).toBe('timeout');

    const notReady = await notReadyWithin(store, HANG_BOUND_MS);
    expect(notReady).toBeInstanceOf(StoreError);
    expect((notReady as { reason?: unknown }).reason).toBe('expansion-stalled');
    const app = Fastify();
    await app.register(healthRoutes, { store, readyTimeoutMs: 2000, isDraining: () => false });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    await app.close();
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', reason: 'expansion-stalled' });

    // A call whose caller went away while it waited is dropped, never written.
    const controller = new AbortController();
    const gaveUp = batch(100);
    const pendingGaveUp = store.insertEvents(project.id, gaveUp, { signal: controller.signal });
    controller.abort();
    const gaveUpAnswer = await settleWithin(pendingGaveUp, HANG_BOUND_MS);
    expect(gaveUpAnswer.ok).toBe(false);

    // close() ends while the lock is still held; what it could not expand stays in the log.
    const closed = await settleWithin(store.close(), HANG_BOUND_MS);
    expect(closed.ok).toBe(true);

    lock.exec('COMMIT');
    lock.close();
    // The next start expands what the log holds: the acknowledged calls, none of the others.
    const again = await openSqlite(opts);
    try {
      const stored = new Set(
        (await again.queryEvents({ projectId: project.id, limit: 1000 })).map((e) => e.uuid),
      );
      for (const b of kept) for (const e of b) expect(stored.has(e.uuid)).toBe(true);
      for (const e of [...refused, ...gaveUp]) expect(stored.has(e.uuid)).toBe(false);
      expect(stored.size).toBe(200);
      await again.ping();
    } finally {
      await again.close();
    }
  }, 60_000);

  it('close() commits what is queued and ends within its bound while the lock is held', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const opts = { dataDir: dir, maxPendingEvents: 100, busyTimeoutMs: 1000, closeExpandBudgetMs: 1000 };
    const store = await openSqlite(opts);
    const project = await store.createProject('p');
    locks.push(holdWriteLock(dir));
    await store.insertEvents(project.id, batch(100));
    // Waits for backpressure; close() commits it rather than waiting for an expander it cannot have.
    const queued = batch(50);
    const queuedAnswer = store.insertEvents(project.id, queued);
    const closed = await settleWithin(store.close(), HANG_BOUND_MS);
    expect(closed.ok).toBe(true);
    expect((await settleWithin(queuedAnswer, 1000)).ok).toBe(true);
    locks[0]!.exec('COMMIT');
    const again = await openSqlite(opts);
    try {
      expect(await again.queryEvents({ projectId: project.id, limit: 1000 })).toHaveLength(150);
    } finally {
      await again.close();
    }
  }, 60_000);
});
