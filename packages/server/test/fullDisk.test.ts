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
import { AcknowledgedSender, expectDiskFullAnswer, expectLoggedOnce } from './diskFull.test-helpers.js';
import { logCapture } from './harness.js';

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

  it('answers 503 saying the disk is full, is not ready, logs it once, and takes events again once room is back', async () => {
    disk = mountSmallDisk(8 * 1024 * 1024);
    const dataDir = join(disk.dir, 'data');
    const { stream, text: logs } = logCapture();
    running = await startServer({ dataDir, port: 0, retentionDays: 0, logger: { level: 'info', stream } });
    const { url, store } = running;
    const project = await store.createProject('p');
    const sender = new AcknowledgedSender(url, project.writeKey);
    expect((await sender.send(0)).status).toBe(202);

    disk.fill();
    // The log's WAL may still have a little room: send until the disk refuses.
    expectDiskFullAnswer(await sender.untilRefused(200));
    // A balancer should move away: the server can only answer 503.
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'disk-full' });
    // Every request is answered (a small one may still fit where the log's WAL has room), but
    // the log says it once, not a line per request.
    const statuses = await sender.statuses(20);
    expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(15);
    expectLoggedOnce(logs());

    rmSync(join(disk.dir, 'filler'));
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await sender.send(100_000)).status).toBe(202);
    // Everything acknowledged is stored, once; nothing answered 503 is.
    await vi.waitFor(() => sender.expectStoredOnce(store, project.id), { timeout: 15_000 });
  });

  it('refuses to start on a full disk with advice to free room, never to move the files aside', async () => {
    disk = mountSmallDisk(4 * 1024 * 1024);
    const dataDir = join(disk.dir, 'data');
    running = await startServer({ dataDir, port: 0, retentionDays: 0, logger: false });
    const project = await running.store.createProject('p');
    expect((await new AcknowledgedSender(running.url, project.writeKey).send(0)).status).toBe(202);
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
    expect(stored).toHaveLength(100);
  });
});
