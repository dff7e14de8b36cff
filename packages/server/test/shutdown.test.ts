import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY_HEADER } from '../src/routes/adminAuth.js';
import { freshDatabase, lockWaiters, postgresReachable } from '../src/store/postgres.test-helpers.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from '../src/store/sqlite.test-helpers.js';
import { bearer, post } from './harness.js';
import { transpileServer } from './transpileServer.js';

// The child: a real server (startServer + shutdownOnSignals) on SQLite whose inserts of the
// event "slow" wait until the release file exists, so a request can be held in flight.
const CHILD = `
import { existsSync } from 'node:fs';
import { startServer, shutdownOnSignals, SqliteStore } from './index.js';
const [dataDir, releaseFile, graceMs] = process.argv.slice(2);
const store = new SqliteStore({ dataDir });
await store.migrate();
const project = await store.createProject('shutdown');
const slow = new Proxy(store, {
  get(target, prop) {
    const v = target[prop];
    if (prop !== 'insertEvents') return typeof v === 'function' ? v.bind(target) : v;
    return async (projectId, events) => {
      if (events.some((e) => e.event === 'slow')) {
        console.log('inflight');
        while (!existsSync(releaseFile)) await new Promise((r) => setTimeout(r, 20));
      }
      return target.insertEvents(projectId, events);
    };
  },
});
const running = await startServer({
  store: slow, port: 0, retentionDays: 0, logger: false,
  ...(graceMs === undefined ? {} : { shutdownGraceMs: Number(graceMs) }),
});
const log = { info: (_o, msg) => console.log(msg), error: (o, msg) => console.log(msg, String(o.err)) };
shutdownOnSignals({ close: async () => { await running.close(); await store.close(); } }, log);
console.log('ready ' + JSON.stringify({ url: running.url, key: project.writeKey }));
`;

// The child: `homing serve` on PostgreSQL as the CLI runs it (startServer + shutdownOnSignals).
const PG_CHILD = `
import { startServer, shutdownOnSignals } from './index.js';
const [databaseUrl, graceMs] = process.argv.slice(2);
const running = await startServer({
  databaseUrl, port: 0, retentionDays: 0, logger: false, shutdownGraceMs: Number(graceMs),
});
const project = await running.store.createProject('shutdown');
const log = { info: (_o, msg) => console.log(msg), error: (o, msg) => console.log(msg, String(o.err)) };
shutdownOnSignals(running, log);
console.log('ready ' + JSON.stringify({ url: running.url, key: project.writeKey, admin: project.adminKey }));
`;

const pgReachable = await postgresReachable();

/** A child on one of the transpiled scripts, with its stderr gathered and its exit code awaited. */
/** The events the child's project holds in `dataDir` once it exited (at most 10), by `filter`. */
async function storedEvents(dataDir: string, filter: { event?: string } = {}) {
  const store = new SqliteStore({ dataDir });
  try {
    await store.migrate();
    const [project] = await store.listProjects();
    return await store.queryEvents({ projectId: project!.id, limit: 10, ...filter });
  } finally {
    await store.close();
  }
}

function startChild(
  dir: string,
  script: string,
  args: string[],
): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [join(dir, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

function lines(child: ChildProcess): { waitFor(prefix: string): Promise<string>; all: string[] } {
  const all: string[] = [];
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) {
      all.push(l);
      for (const w of waiters.filter((x) => l.startsWith(x.prefix))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  return {
    all,
    waitFor: (prefix) =>
      new Promise((resolve, reject) => {
        const seen = all.find((l) => l.startsWith(prefix));
        if (seen !== undefined) return resolve(seen);
        waiters.push({ prefix, resolve });
        // Generous: only there so a hang reports what the child said instead of a bare timeout.
        setTimeout(
          () => reject(new Error(`child never printed "${prefix}"; it printed: ${all.join(' | ')}`)),
          20_000,
        ).unref();
      }),
  };
}

/** What a test of the child server with a request held in flight gets (see `withHeldRequest`). */
interface HeldRequest {
  child: ChildProcess;
  out: ReturnType<typeof lines>;
  exited: Promise<number | null>;
  dataDir: string;
  release: string;
  /** The held POST of one 'slow' event: its answer, or the error it ended with. */
  slow: Promise<unknown>;
}

/**
 * Starts the child server on a fresh data directory, posts one 'slow' event whose store write it
 * holds until `release` exists, and runs `body` once the request is in flight; the child's stderr
 * is added to a failure, and the directory removed after.
 */
async function withHeldRequest(
  dir: string,
  uuid: string,
  body: (h: HeldRequest) => Promise<void>,
): Promise<void> {
  const dataDir = tempDir();
  const release = join(dataDir, 'release');
  const { child, stderr, exited } = startChild(dir, 'child.js', [dataDir, release]);
  try {
    const out = lines(child);
    const { url, key } = JSON.parse((await out.waitFor('ready ')).slice(6)) as { url: string; key: string };
    const slow = post(`${url}/ingest`, [{ event: 'slow', distinct_id: 'd', uuid }], {
      authorization: `Bearer ${key}`,
    }).catch((error: unknown) => error);
    await out.waitFor('inflight');
    await body({ child, out, exited, dataDir, release, slow });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nchild stderr: ${stderr()}`, { cause: err });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('graceful shutdown on SIGTERM (child process)', () => {
  let build: ReturnType<typeof transpileServer>;
  beforeAll(() => {
    build = transpileServer();
    writeFileSync(join(build.dir, 'child.js'), CHILD);
    writeFileSync(join(build.dir, 'pg-child.js'), PG_CHILD);
  });
  afterAll(() => build?.remove());

  // SIGHUP: what a server started from a terminal or an ssh session gets when that session closes.
  it.each(['SIGTERM', 'SIGHUP'] as const)(
    'on %s, finishes the request in flight, refuses new ones, closes the store and exits 0',
    async (signal) => {
      const dataDir = tempDir();
      const release = join(dataDir, 'release');
      const { child, stderr, exited } = startChild(build.dir, 'child.js', [dataDir, release]);
      try {
        const out = lines(child);
        const { url, key } = JSON.parse((await out.waitFor('ready ')).slice(6)) as {
          url: string;
          key: string;
        };
        const auth = { authorization: `Bearer ${key}` };

        const slow = post(
          `${url}/ingest`,
          [{ event: 'slow', distinct_id: 'd', uuid: '0193a5c0-0000-7000-8000-000000000001' }],
          auth,
        );
        await out.waitFor('inflight');
        child.kill(signal);
        await out.waitFor('shutting down');

        // While the slow request is held, new requests are refused: connection refused or 503.
        let refused: string | null = null;
        for (let i = 0; i < 200 && refused === null; i++) {
          try {
            const r = await post(`${url}/ingest`, [{ event: 'late', distinct_id: 'd' }], auth);
            if (r.status === 503) refused = `503 retry-after ${r.headers.get('retry-after')}`;
          } catch {
            refused = 'connection refused';
          }
        }
        expect(refused).not.toBeNull();
        expect(existsSync(release)).toBe(false);

        writeFileSync(release, '');
        const answer = await slow;
        expect(answer.status).toBe(202);
        expect(answer.json).toMatchObject({ accepted: 1 });
        expect(await exited).toBe(0);
        expect(out.all).toContain('shut down');

        expect(await storedEvents(dataDir, { event: 'slow' })).toHaveLength(1);
      } catch (err) {
        child.kill('SIGKILL');
        throw new Error(`${(err as Error).message}\nchild stderr: ${stderr()}`, { cause: err });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );

  // Ctrl-C on `npm start`: the terminal signals the whole foreground group and npm forwards the
  // signal too, so node gets SIGINT twice, 6-11 ms apart. The second is the same one: it must not
  // force an exit that resets the request in flight.
  it('a SIGINT delivered twice 10 ms apart still shuts down gracefully: the request in flight is answered, exit 0', async () => {
    await withHeldRequest(build.dir, '0193a5c0-0000-7000-8000-000000000002', async (h) => {
      h.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 10));
      h.child.kill('SIGINT');
      await h.out.waitFor('signal repeated at once');
      writeFileSync(h.release, '');
      const answer = (await h.slow) as Awaited<ReturnType<typeof post>>;
      expect(answer.status).toBe(202);
      expect(await h.exited).toBe(0);
      expect(h.out.all).toContain('shut down');
      expect(h.out.all).not.toContain('second signal: exiting without waiting');
      expect(await storedEvents(h.dataDir, { event: 'slow' })).toHaveLength(1);
    });
  });

  it('a second signal well after the first (an operator who does not want to wait) exits at once with 130', async () => {
    await withHeldRequest(build.dir, '0193a5c0-0000-7000-8000-000000000003', async (h) => {
      h.child.kill('SIGINT');
      await h.out.waitFor('shutting down');
      await new Promise((r) => setTimeout(r, 1_500));
      h.child.kill('SIGINT');
      expect(await h.exited).toBe(130);
      expect(h.out.all).toContain('second signal: exiting without waiting');
      // Not answered: the process left without it.
      expect(await h.slow).toBeInstanceOf(Error);
    });
  });

  it('with an upload stalled mid-body, closes its connection after the grace period and exits 0', async () => {
    const dataDir = tempDir();
    const { child, stderr, exited } = startChild(build.dir, 'child.js', [
      dataDir,
      join(dataDir, 'release'),
      '300',
    ]);
    try {
      const out = lines(child);
      const { url, key } = JSON.parse((await out.waitFor('ready ')).slice(6)) as { url: string; key: string };
      const { port } = new URL(url);
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      const socketClosed = new Promise<void>((r) => socket.on('close', () => r()));
      await new Promise<void>((r) => socket.on('connect', () => r()));
      socket.write(
        `POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${key}\r\n` +
          'Content-Length: 100\r\n\r\n[{"ev',
      );
      // Let the server read the headers and the first bytes.
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      await out.waitFor('shutting down');
      // Generous: without the grace period the child never exits (the audit waited 40 s).
      const code = await Promise.race([
        exited,
        new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000)),
      ]);
      expect(code).toBe(0);
      await socketClosed;
      expect(out.all).toContain('shut down');

      expect(await storedEvents(dataDir)).toEqual([]);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\nchild stderr: ${stderr()}`, { cause: err });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);

  it.skipIf(!pgReachable)(
    'on PostgreSQL with a statement stuck behind a lock, cancels it after the grace period and exits 0',
    async () => {
      const db = await freshDatabase();
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      const waiting = (): Promise<number> => lockWaiters(db.url);
      const { child, stderr, exited } = startChild(build.dir, 'pg-child.js', [db.url, '300']);
      try {
        const out = lines(child);
        const { url, key, admin } = JSON.parse((await out.waitFor('ready ')).slice(6)) as {
          url: string;
          key: string;
          admin: string;
        };
        const auth = bearer(key);
        expect((await post(`${url}/ingest`, [{ event: 'e', distinct_id: 'alice' }], auth)).status).toBe(202);
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
        // An erasure's DELETE has the long bound (five minutes): only the shutdown ends it.
        const erasure = fetch(`${url}/api/persons/alice`, {
          method: 'DELETE',
          headers: { [ADMIN_KEY_HEADER]: admin },
        }).catch((err: unknown) => err);
        await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: 15_000 });
        child.kill('SIGTERM');
        await out.waitFor('shutting down');
        // Generous: before, the child never exited (pool.end() waited for the statement).
        const code = await Promise.race([
          exited,
          new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000)),
        ]);
        expect(code).toBe(0);
        expect(out.all).toContain('shut down');
        await erasure;
        // Cancelled, not abandoned: no backend waits to run the DELETE once the lock is gone.
        expect(await waiting()).toBe(0);
        await locker.query('COMMIT');
        expect(Number((await locker.query('SELECT count(*) AS n FROM events')).rows[0].n)).toBe(1);
        expect(Number((await locker.query('SELECT count(*) AS n FROM erasures')).rows[0].n)).toBe(0);
      } catch (err) {
        child.kill('SIGKILL');
        throw new Error(`${(err as Error).message}\nchild stderr: ${stderr()}`, { cause: err });
      } finally {
        await locker.end().catch(() => {});
        await db.drop();
      }
    },
    60_000,
  );
});
