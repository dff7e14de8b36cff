import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printed, spawnOutboxChild } from './__fixtures__/children.js';
import { createFileOutbox } from './createFileOutbox.js';

/**
 * Several processes on one outbox directory: both append, both try to deliver, and hand the
 * delivery lock over now and then. A shared log records every claim (written after claim()
 * resolved) and every ack/release (written before it is called): no record may be claimed by
 * one process while another still holds it, none may be lost, none acked twice.
 */
const tmp: string[] = [];
afterAll(async () => {
  for (const d of tmp) await fs.rm(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'homing-multi-'));
  tmp.push(d);
  return d;
}

async function drainInParent(dir: string): Promise<string[]> {
  const outbox = createFileOutbox({ directory: dir });
  const drained: string[] = [];
  for (;;) {
    const batch = await outbox.claim(100, Infinity);
    if (batch === null) break;
    drained.push(...batch.records.map((r) => r.uuid));
    await outbox.ack(batch);
  }
  expect((await outbox.size()).events).toBe(0);
  await outbox.close();
  return drained;
}

describe('FileOutbox shared by several processes', () => {
  it(
    'two processes appending and delivering at once: no loss, no record held by both',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir();
      const claimLog = path.join(dir, '..', `${path.basename(dir)}.claims.log`);
      tmp.push(claimLog);
      const children = [
        spawnOutboxChild([dir, 'deliver', '150', claimLog]),
        spawnOutboxChild([dir, 'deliver', '150', claimLog]),
      ];
      const exits = await Promise.all(children.map((c) => c.exited));
      for (const [i, e] of exits.entries()) expect(e.code, children[i]!.stderr()).toBe(0);
      for (const c of children) expect(c.lines.at(-1)).toBe('DONE');

      const holder = new Map<string, string>();
      const acked = new Set<string>();
      const claimers = new Set<string>();
      const violations: string[] = [];
      for (const line of (await fs.readFile(claimLog, 'utf8')).split('\n')) {
        if (line === '') continue;
        const [kind, pid, uuid] = line.split(' ') as [string, string, string];
        if (kind === 'C') {
          claimers.add(pid);
          if (holder.has(uuid))
            violations.push(`${uuid} claimed by ${pid} while held by ${holder.get(uuid)}`);
          if (acked.has(uuid)) violations.push(`${uuid} claimed by ${pid} after it was acked`);
          holder.set(uuid, pid);
        } else {
          if (holder.get(uuid) !== pid) violations.push(`${uuid} settled by ${pid} which did not hold it`);
          holder.delete(uuid);
          if (kind === 'A') acked.add(uuid);
        }
      }
      expect(violations).toEqual([]);
      // Both processes delivered at some point: the lock really changed hands.
      expect(claimers.size).toBe(2);

      const lines = children.flatMap((c) => c.lines);
      const durable = printed(lines, 'P');
      const drained = await drainInParent(dir);
      expect(drained.length).toBe(new Set(drained).size);
      expect(drained.filter((u) => acked.has(u))).toEqual([]);
      const delivered = new Set([...acked, ...drained]);
      expect(durable.filter((u) => !delivered.has(u))).toEqual([]);
    },
  );

  it(
    'takes over the delivery lock of a killed holder and delivers what it had claimed',
    { timeout: 30_000 },
    async () => {
      const dir = tempDir();
      const child = spawnOutboxChild([dir, 'deliver']);
      await child.waitFor('S ');
      await child.waitFor('P ');
      child.process.kill('SIGKILL');
      await child.exited;
      const lock = JSON.parse(await fs.readFile(path.join(dir, 'delivery.lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(child.process.pid);

      const durable = printed(child.lines, 'P');
      const acked = new Set(printed(child.lines, 'A'));
      const drained = await drainInParent(dir);
      expect(drained.length).toBe(new Set(drained).size);
      const delivered = new Set([...acked, ...drained]);
      expect(durable.filter((u) => !delivered.has(u))).toEqual([]);
      // Claimed by the dead process and never acked: delivered now.
      const heldByDead = printed(child.lines, 'S').filter((u) => !acked.has(u));
      for (const u of heldByDead) expect(delivered.has(u)).toBe(true);
    },
  );
});
