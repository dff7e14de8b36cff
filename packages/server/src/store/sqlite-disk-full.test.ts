import { randomUUID } from 'node:crypto';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  canMountSmallDisks,
  mountSmallDisk,
  type SmallDisk,
} from '../../../client/src/outbox/file-log/smallDisk.test-helpers.js';
import { StoreError } from './errors.js';
import { openSqlite, writeUnexpandedBacklog } from './sqlite.test-helpers.js';
import { ev } from './store.contract.js';

const MiB = 1024 * 1024;

// A real tmpfs filled by the store's own files: what a small data disk does under ingest.
describe.skipIf(!canMountSmallDisks())('SqliteStore on a disk its own files filled (tmpfs)', () => {
  let disk: SmallDisk | undefined;
  afterEach(() => {
    disk?.unmount();
    disk = undefined;
  });

  it('a start whose files open on a full disk turns not ready once expansion finds it full', async () => {
    disk = mountSmallDisk(24 * MiB);
    const dataDir = join(disk.dir, 'data');
    const first = await openSqlite({ dataDir });
    await first.createProject('p');
    await first.close();
    // A backlog as a crash leaves it, and the disk filled meanwhile (1 MiB left: enough to open).
    writeUnexpandedBacklog(dataDir, 50_000);
    writeFileSync(join(disk.dir, 'fill'), Buffer.alloc(Math.max(0, disk.freeBytes() - MiB)));
    const store = await openSqlite({ dataDir, busyTimeoutMs: 1000 });
    try {
      await vi.waitFor(
        async () => {
          const err = await store.ping().then(
            () => null,
            (e: unknown) => e,
          );
          expect(err).toMatchObject({ kind: 'disk-full' });
        },
        { timeout: 15_000, interval: 100 },
      );
      // An ingest call after it does not make it ready again (here it finds the disk full too).
      const project = (await store.listProjects())[0]!;
      await store.insertEvents(project.id, [ev({ uuid: randomUUID() })]).catch(() => {});
      await expect(store.ping()).rejects.toMatchObject({ kind: 'disk-full' });
    } finally {
      await store.close();
    }
  });

  it('stays not ready until there is room to expand the ingest log, and says how much it needs', async () => {
    disk = mountSmallDisk(24 * MiB);
    const dataDir = join(disk.dir, 'data');
    // Room that is given back later: more than the 4 MiB that used to make it ready again.
    writeFileSync(join(disk.dir, 'spare'), Buffer.alloc(6 * MiB));
    const store = await openSqlite({ dataDir, walAutocheckpointPages: 1000, busyTimeoutMs: 1000 });
    try {
      const project = await store.createProject('p');
      const props = { blob: 'x'.repeat(300) };
      let refused: unknown = null;
      for (let i = 0; i < 5000 && refused === null; i++) {
        try {
          await store.insertEvents(
            project.id,
            Array.from({ length: 100 }, () => ev({ uuid: randomUUID(), properties: props })),
          );
        } catch (err) {
          refused = err;
        }
      }
      expect((refused as StoreError).kind).toBe('disk-full');
      rmSync(join(disk.dir, 'spare'));
      expect(disk.freeBytes()).toBeGreaterThan(4 * MiB);
      // Enough to acknowledge a few batches, not to expand what the log holds: still not ready.
      const notReady = await store.ping().then(
        () => null,
        (err: unknown) => err,
      );
      expect(notReady).toBeInstanceOf(StoreError);
      expect((notReady as StoreError).kind).toBe('disk-full');
      expect((notReady as StoreError).message).toMatch(/needs about \d+ MiB free/);
    } finally {
      await store.close().catch(() => {});
    }
  }, 60_000);
});
