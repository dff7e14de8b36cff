import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startServer, type RunningServer } from '../src/startServer.js';
import { sqliteBackgroundError } from '../src/store/open-store.js';
import { onOtherConnection } from '../src/store/sqlite.test-helpers.js';
import { bearer, logCapture, post, v7 } from './harness.js';

const LINE = 'store background work failed';

describe('homing serve on SQLite: a failing log expansion reaches the server log', () => {
  let running: RunningServer | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('logs it once a minute at most, by code, never the event; the events are stored once it works', async () => {
    dir = mkdtempSync(join(tmpdir(), 'homing-bg-log-'));
    const { stream, text: logs } = logCapture();
    running = await startServer({
      dataDir: dir,
      port: 0,
      retentionDays: 0,
      logger: { level: 'info', stream },
    });
    const project = await running.store.createProject('p');
    onOtherConnection(
      dir,
      `CREATE TRIGGER stuck BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'expansion refused (injected)'); END`,
    );
    const events = [0, 1, 2].map((i) => ({
      event: 'signed up',
      distinct_id: 'secret-person-51c2',
      uuid: v7(i),
      properties: { email: 'secret@example.com' },
    }));
    const answer = await post(`${running.url}/ingest`, events, bearer(project.writeKey));
    expect(answer.status).toBe(202);
    await vi.waitFor(() => expect(logs()).toContain(LINE), { timeout: 15_000 });
    // The expansion retries every second; the log says so once.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const lines = logs()
      .split('\n')
      .filter((l) => l.includes(LINE));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 50, kind: 'storage', code: 'SQLITE_CONSTRAINT_TRIGGER' });
    expect(line.message).toContain('expansion refused (injected)');
    expect(logs()).not.toContain('secret-person-51c2');
    expect(logs()).not.toContain('secret@example.com');
    onOtherConnection(dir, 'DROP TRIGGER stuck');
    await vi.waitFor(
      async () => {
        const stored = await running!.store.queryEvents({ projectId: project.id, limit: 10 });
        expect(stored.map((e) => e.uuid).sort()).toEqual(events.map((e) => e.uuid).sort());
      },
      { timeout: 15_000 },
    );
  }, 60_000);

  it('keeps SQLite messages and withholds any other (it may quote a stored row)', () => {
    const sqlite = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(sqliteBackgroundError(sqlite)).toMatchObject({ kind: 'storage', cause: sqlite });
    expect(sqliteBackgroundError(sqlite).message).toContain('database or disk is full');
    const parse = new SyntaxError('Unexpected token \'s\', "secret-person-51c2" is not valid JSON');
    expect(sqliteBackgroundError(parse).message).not.toContain('secret');
    expect(sqliteBackgroundError(parse).message).toContain('SyntaxError');
    for (const odd of [null, undefined, 'text', 42, { code: 7 }]) {
      expect(sqliteBackgroundError(odd).kind).toBe('storage');
    }
  });
});
