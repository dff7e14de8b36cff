import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/startServer.js';
import { tempDir } from '../src/store/sqlite.test-helpers.js';
import { bearer, post } from './harness.js';

// Events dated before the retention period (a clock reset to 1970, year 1, no sent_at) were
// answered 202 and deleted by the first retention run: now stored at their receive time, as the
// far future is, the client's value kept as originalTimestamp.
describe('startServer: a timestamp older than retentionDays at receive time', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(
    retentionDays?: number,
  ): Promise<{ running: RunningServer; key: string; projectId: string }> {
    const dir = tempDir();
    const running = await startServer({
      port: 0,
      dataDir: dir,
      logger: false,
      ...(retentionDays === undefined ? {} : { retentionDays }),
    });
    cleanups.push(async () => {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const project = await running.store.createProject('p');
    return { running, key: project.writeKey, projectId: project.id };
  }

  const OLD = ['1970-01-01T00:00:00.000Z', '0001-01-01T00:00:00.000Z', '-271821-04-20T00:00:00.000Z'];

  it.each([[undefined], [30]])(
    'is stored at the receive time (retentionDays %s), its own kept',
    async (days) => {
      const { running, key, projectId } = await start(days);
      const before = Date.now();
      const r = await post(
        `${running.url}/ingest`,
        OLD.map((timestamp, i) => ({ event: 'old', distinct_id: `o${i}`, timestamp })),
        bearer(key),
      );
      expect(r.json).toMatchObject({ accepted: 3, rejected: [] });
      const stored = await running.store.queryEvents({ projectId, event: 'old', limit: 10 });
      expect(stored.map((e) => e.originalTimestamp).sort()).toEqual([...OLD].sort());
      for (const e of stored) expect(Date.parse(e.timestamp)).toBeGreaterThanOrEqual(before - 1);
      // Within the period: kept as sent.
      const recent = new Date(Date.now() - 10 * 86_400_000).toISOString();
      await post(
        `${running.url}/ingest`,
        [{ event: 'recent', distinct_id: 'r', timestamp: recent }],
        bearer(key),
      );
      const [kept] = await running.store.queryEvents({ projectId, event: 'recent', limit: 1 });
      expect(kept!.timestamp).toBe(recent);
    },
  );

  it('is kept as sent when retention is off (retentionDays 0): nothing will delete it', async () => {
    const { running, key, projectId } = await start(0);
    await post(`${running.url}/ingest`, [{ event: 'old', distinct_id: 'o', timestamp: OLD[0] }], bearer(key));
    const [e] = await running.store.queryEvents({ projectId, event: 'old', limit: 1 });
    expect(e!.timestamp).toBe(OLD[0]);
  });
});
