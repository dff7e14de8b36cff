import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type SmallDisk,
  canMountSmallDisks,
  mountSmallDisk,
} from '../../client/src/outbox/file-log/smallDisk.test-helpers.js';
import { startServer, type RunningServer } from '../src/startServer.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { bearer, logCapture, post, v7 } from './harness.js';

const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), '../../cli/dist/bin.js');

// The data directory on a real tmpfs of a few MiB, filled by another file: SQLite answers
// SQLITE_FULL as it does on a full disk.
describe.skipIf(!canMountSmallDisks())('homing serve on SQLite when the disk is full (tmpfs)', () => {
  let running: RunningServer | undefined;
  let disk: SmallDisk | undefined;
  afterEach(async () => {
    await running?.close().catch(() => {});
    running = undefined;
    disk?.unmount();
    disk = undefined;
  });

  const batch = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      event: 'page viewed',
      distinct_id: `person-${(from + i) % 7}`,
      uuid: v7(from + i),
      properties: { path: `/p/${from + i}`, pad: 'x'.repeat(200) },
    }));

  it('answers 503 saying the disk is full, is not ready, logs it once, and takes events again once room is back', async () => {
    disk = mountSmallDisk(8 * 1024 * 1024);
    const dataDir = join(disk.dir, 'data');
    const { stream, text: logs } = logCapture();
    running = await startServer({ dataDir, port: 0, retentionDays: 0, logger: { level: 'info', stream } });
    const { url, store } = running;
    const project = await store.createProject('p');
    const auth = bearer(project.writeKey);
    const first = batch(0, 100);
    expect((await post(`${url}/ingest`, first, auth)).status).toBe(202);

    disk.fill();
    // The log's WAL may still have a little room: send until the disk refuses.
    let full: Awaited<ReturnType<typeof post>> | undefined;
    const acknowledged = new Set(first.map((e) => e.uuid));
    for (let i = 1; i < 200 && full === undefined; i++) {
      const events = batch(i * 100, 100);
      const answer = await post(`${url}/ingest`, events, auth);
      if (answer.status === 202) for (const e of events) acknowledged.add(e.uuid);
      else full = answer;
    }
    expect(full?.status).toBe(503);
    expect(full?.headers.get('retry-after')).toBe('5');
    expect(full?.json).toEqual({
      error: 'storage-unavailable',
      message: "the server's disk is full; nothing was stored, retry later",
    });
    // A balancer should move away: the server can only answer 503.
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'disk-full' });
    // Every request is answered (a small one may still fit where the log's WAL has room), but
    // the log says it once, not a line per request.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const events = batch(50_000 + i * 100, 100);
      const answer = await post(`${url}/ingest`, events, auth);
      statuses.push(answer.status);
      if (answer.status === 202) for (const e of events) acknowledged.add(e.uuid);
    }
    expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(15);
    const lines = logs()
      .split('\n')
      .filter((l) => l.includes('storage failed; answered 503'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'disk-full', level: 50 });
    expect(logs()).not.toContain('person-');

    rmSync(join(disk.dir, 'filler'));
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const after = batch(100_000, 100);
    expect((await post(`${url}/ingest`, after, auth)).status).toBe(202);
    for (const e of after) acknowledged.add(e.uuid);
    // Everything acknowledged is stored, once; nothing answered 503 is.
    await vi.waitFor(
      async () => {
        const stored: string[] = [];
        for (let person = 0; person < 7; person++)
          for await (const e of store.personEvents(project.id, `person-${person}`)) stored.push(e.uuid);
        expect(new Set(stored).size).toBe(stored.length);
        expect(new Set(stored)).toEqual(acknowledged);
      },
      { timeout: 15_000 },
    );
  });

  it('refuses to start on a full disk with advice to free room, never to move the files aside', async () => {
    disk = mountSmallDisk(4 * 1024 * 1024);
    const dataDir = join(disk.dir, 'data');
    running = await startServer({ dataDir, port: 0, retentionDays: 0, logger: false });
    const project = await running.store.createProject('p');
    expect((await post(`${running.url}/ingest`, batch(0, 50), bearer(project.writeKey))).status).toBe(202);
    await running.close();
    running = undefined;
    // Its -shm and -wal files are gone after a clean close: opening must make them again.
    disk.fill();
    const opening = (async () => {
      const store = new SqliteStore({ dataDir });
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
    })();
    await expect(opening).rejects.toMatchObject({ kind: 'disk-full' });
    const message = await opening.catch((err: Error) => err.message);
    expect(message).toContain('the disk is full');
    expect(message).toContain('do not move or delete the database files');
    expect(message).not.toContain('move it aside');

    // Through the CLI: exit 1, the same message and a hint that says what to do.
    let cli: { status: number | null; stderr: string } = { status: null, stderr: '' };
    try {
      execFileSync(process.execPath, [CLI_BIN, 'serve', '--data-dir', dataDir, '--port', '0'], {
        stdio: 'pipe',
        timeout: 20_000,
      });
    } catch (err) {
      const e = err as { status: number | null; stderr: Buffer };
      cli = { status: e.status, stderr: e.stderr.toString() };
    }
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain('the disk is full');
    expect(cli.stderr).toContain('free room on the disk');

    // Room again: it opens, and the events acknowledged before are all there.
    rmSync(join(disk.dir, 'filler'));
    running = await startServer({ dataDir, port: 0, retentionDays: 0, logger: false });
    const stored = await running.store.queryEvents({ projectId: project.id, limit: 1000 });
    expect(stored).toHaveLength(50);
  });
});
