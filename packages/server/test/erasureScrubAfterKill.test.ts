import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY_HEADER } from '../src/routes/adminAuth.js';
import { LOG_FILE } from '../src/store/sqlite-log-file.js';
import { tempDir } from '../src/store/sqlite.test-helpers.js';
import { bearer, post } from './harness.js';
import { transpileServer } from './transpileServer.js';

// The child: a real server on SQLite that prints the store's notices, on the project it finds in
// the data directory (or a new one).
const CHILD = `
import { startServer, SqliteStore } from './index.js';
const [dataDir] = process.argv.slice(2);
const store = new SqliteStore({
  dataDir,
  onNotice: (n) => console.log('notice ' + n.message),
  onBackgroundError: () => {},
});
await store.migrate();
const [found] = await store.listProjects();
const project = found ?? (await store.createProject('scrub'));
const running = await startServer({ store, port: 0, retentionDays: 0, logger: false });
console.log('ready ' + JSON.stringify({ url: running.url, key: project.writeKey, admin: project.adminKey }));
`;

const SECRET = 'ALICE-MEDICAL-SECRET';
const FILES = ['homing.db', 'homing.db-wal', LOG_FILE, `${LOG_FILE}-wal`];

/** The store's files that hold `text`. */
function holding(dir: string, text: string): string[] {
  return FILES.filter((f) => existsSync(join(dir, f)) && readFileSync(join(dir, f)).includes(text));
}

/** The child's stdout lines, and a bounded wait for one starting with `prefix`. */
function lines(child: ChildProcess): { waitFor(prefix: string): Promise<string> } {
  const all: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    all.push(...parts);
  });
  return {
    waitFor: async (prefix) => {
      // Generous, and only there so a store that never prints it fails with what it printed.
      await vi
        .waitFor(() => expect(all.some((l) => l.startsWith(prefix))).toBe(true), {
          timeout: 20_000,
          interval: 20,
        })
        .catch(() => {
          throw new Error(`the child never printed "${prefix}"; it printed: ${all.join(' | ')}`);
        });
      return all.find((l) => l.startsWith(prefix))!;
    },
  };
}

describe('an erasure whose scrub a SIGKILL cut off (child process)', () => {
  let build: ReturnType<typeof transpileServer>;
  const cleanup: (() => void)[] = [];
  beforeAll(() => {
    build = transpileServer();
    writeFileSync(join(build.dir, 'scrub-child.js'), CHILD);
  });
  afterAll(() => build?.remove());
  afterEach(() => {
    for (const c of cleanup.splice(0).reverse()) c();
  });

  const start = async (
    dataDir: string,
  ): Promise<{
    child: ChildProcess;
    out: ReturnType<typeof lines>;
    url: string;
    key: string;
    admin: string;
  }> => {
    const child = spawn(process.execPath, [join(build.dir, 'scrub-child.js'), dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanup.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    const out = lines(child);
    const ready = JSON.parse((await out.waitFor('ready ')).slice(6)) as {
      url: string;
      key: string;
      admin: string;
    };
    return { child, out, ...ready };
  };

  it("is done at the next start: the files then hold none of the person's data", async () => {
    const dataDir = tempDir();
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await start(dataDir);
    // Five calls of 40: the person's log rows free whole pages of the log once expanded.
    for (let b = 0; b < 5; b++) {
      const events = Array.from({ length: 40 }, (_, i) => ({
        event: 'visit',
        distinct_id: 'alice',
        properties: { note: `${SECRET}-${b}-${i}` },
      }));
      expect((await post(`${first.url}/ingest`, events, bearer(first.key))).status).toBe(202);
    }
    const bob = [{ event: 'visit', distinct_id: 'bob', properties: { note: 'bob-kept' } }];
    expect((await post(`${first.url}/ingest`, bob, bearer(first.key))).status).toBe(202);

    // Once the expanded rows are deleted from the log, another connection takes the log's write
    // lock: the erasure goes through, its scrub cannot (it rewrites the log), and the server is
    // killed with the scrub still to do.
    const logLock = new Database(join(dataDir, LOG_FILE));
    cleanup.push(() => logLock.open && logLock.close());
    await vi.waitFor(() => expect(logLock.prepare('SELECT count(*) FROM ingest_log').pluck().get()).toBe(0), {
      timeout: 20_000,
      interval: 20,
    });
    logLock.exec('BEGIN IMMEDIATE');
    const erased = await fetch(`${first.url}/api/persons/alice`, {
      method: 'DELETE',
      headers: { [ADMIN_KEY_HEADER]: first.admin },
    });
    expect(erased.status).toBe(200);
    expect(await erased.json()).toMatchObject({ deleted: 200 });
    const killed = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await killed;
    logLock.exec('ROLLBACK');
    logLock.close();
    // What the killed server left: the person's bytes are still in the files.
    expect(holding(dataDir, SECRET)).not.toEqual([]);

    const second = await start(dataDir);
    // Bounded: without the scrub the files are looked at after the wait.
    const scrubbed = await second.out.waitFor('notice erased data scrubbed').then(
      () => true,
      () => false,
    );
    expect(holding(dataDir, SECRET)).toEqual([]);
    expect(scrubbed).toBe(true);
    // Nothing else went: bob's event is still there.
    const res = await fetch(`${second.url}/api/persons/bob/export`, {
      headers: { [ADMIN_KEY_HEADER]: second.admin },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('bob-kept');
  }, 90_000);
});
