import { execFileSync } from 'node:child_process';
import { chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type SmallDisk,
  canMountSmallDisks,
  mountSmallDisk,
} from '../../client/src/outbox/file-log/smallDisk.test-helpers.js';
import { startServer, type RunningServer } from '../src/startServer.js';
import { PG_URL, postgresReachable } from '../src/store/postgres.test-helpers.js';
import { AcknowledgedSender, expectDiskFullAnswer, expectLoggedOnce } from './diskFull.test-helpers.js';
import { logCapture } from './harness.js';

const reachable = await postgresReachable();
/** The tablespace must be a directory the PostgreSQL server itself can write: one on this host. */
const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(PG_URL).hostname);

function postgresOsUser(): { uid: number; gid: number } | null {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { stdio: 'pipe' }).toString());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return null;
  }
}

/**
 * A database whose tables live on a small tmpfs (a tablespace there): PostgreSQL's own writes
 * fail with disk_full (53100), "could not extend file", as on a real full disk, while its WAL
 * (in the server's data directory) still has room.
 */
async function databaseOnSmallDisk(disk: SmallDisk): Promise<{ url: string; drop(): Promise<void> }> {
  const owner = postgresOsUser();
  if (owner === null) throw new Error('no `postgres` user on this machine to own the tablespace directory');
  chownSync(disk.dir, owner.uid, owner.gid);
  const tag = `${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE TABLESPACE homing_small_${tag} LOCATION '${disk.dir}'`);
  await admin.query(`CREATE DATABASE homing_small_${tag} TABLESPACE homing_small_${tag}`);
  const url = new URL(PG_URL);
  url.pathname = `/homing_small_${tag}`;
  return {
    url: url.toString(),
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS homing_small_${tag} WITH (FORCE)`);
        await admin.query(`DROP TABLESPACE IF EXISTS homing_small_${tag}`);
      } finally {
        await admin.end();
      }
    },
  };
}

describe.skipIf(!reachable || !local || !canMountSmallDisks())(
  'homing serve on PostgreSQL when the database server runs out of disk (tablespace on tmpfs)',
  () => {
    let running: RunningServer | undefined;
    let disk: SmallDisk | undefined;
    let db: { drop(): Promise<void> } | undefined;
    afterEach(async () => {
      await running?.close().catch(() => {});
      running = undefined;
      await db?.drop();
      db = undefined;
      disk?.unmount();
      disk = undefined;
    });

    it('answers 503 saying the disk is full, logs it once, and stores again once room is back', async () => {
      disk = mountSmallDisk(16 * 1024 * 1024);
      const created = await databaseOnSmallDisk(disk);
      db = created;
      const { stream, text: logs } = logCapture();
      running = await startServer({
        databaseUrl: created.url,
        port: 0,
        retentionDays: 0,
        logger: { level: 'info', stream },
      });
      const { url, store } = running;
      const project = await store.createProject('p');
      const sender = new AcknowledgedSender(url, project.writeKey);
      expect((await sender.send(0)).status).toBe(202);

      // The filler sits beside the tablespace's own directory: removing it gives the room back.
      disk.fill();
      expectDiskFullAnswer(await sender.untilRefused(400));
      const statuses = await sender.statuses(10);
      expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(5);
      expectLoggedOnce(logs());

      rmSync(join(disk.dir, 'filler'));
      expect((await sender.send(100_000)).status).toBe(202);
      // Everything acknowledged is stored, once; nothing answered 503 is.
      await sender.expectStoredOnce(store, project.id);
    }, 60_000);
  },
);
