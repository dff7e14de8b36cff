import { createServer } from 'node:net';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDefaultProject } from './defaultProject.js';
import { startServer, ServerStartError } from './startServer.js';
import { logCapture } from '../test/harness.js';
import { tempDir } from './store/sqlite.test-helpers.js';

describe('startServer', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it.skipIf(process.platform === 'win32')(
    'warns once at start when the data directory is open to other users, naming it and the fix',
    async () => {
      const dataDir = tempDir();
      dirs.push(dataDir);
      chmodSync(dataDir, 0o755);
      const log = logCapture();
      const running = await startServer({
        dataDir,
        port: 0,
        retentionDays: 0,
        logger: { level: 'warn', stream: log.stream },
      });
      await running.close();
      const warnings = log
        .text()
        .split('\n')
        .filter((l) => l.includes('open to other users'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, dataDir, mode: '755', fix: `chmod 700 ${dataDir}` });
      expect(warnings[0]!.msg).toContain(`run chmod 700 ${dataDir}`);
    },
  );

  it('opens SQLite in dataDir, listens, runs retention on its store, and close() closes the store', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const running = await startServer({
      dataDir,
      port: 0,
      retentionDays: 1,
      retention: { firstRunDelayMs: 60_000 },
    });
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { project } = await ensureDefaultProject(running.store);
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const now = new Date().toISOString();
    const ev = (uuid: string, timestamp: string) => ({
      uuid,
      event: 'e',
      distinctId: 'd',
      timestamp,
      originalTimestamp: null,
      receivedAt: now,
      properties: {},
    });
    await running.store.insertEvents(project.id, [
      ev('0193a5c0-0000-7000-8000-000000000001', old),
      ev('0193a5c0-0000-7000-8000-000000000002', now),
    ]);
    expect(await running.retention.runOnce()).toBe(1);
    expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
    await running.close();
    await running.close(); // idempotent
    await expect(running.store.ping()).rejects.toMatchObject({ kind: 'closed' });
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
  });

  it("maxEventBytes above the stores' default 1 000 000 lets such events into the store it opens", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const running = await startServer({ dataDir, port: 0, retentionDays: 0, maxEventBytes: 3_000_000 });
    try {
      const { project } = await ensureDefaultProject(running.store);
      const res = await fetch(`${running.url}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${project.writeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          { event: 'big', distinct_id: 'd', properties: { text: 'x'.repeat(1_500_000) } },
        ]),
      });
      expect(await res.json()).toEqual({ accepted: 1, duplicates: 0, erased: 0, rejected: [] });
    } finally {
      await running.close();
    }
  });

  it('maxPendingEvents and walAutocheckpointPages reach the SQLite store it opens (a small data disk lowers both)', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const running = await startServer({
      dataDir,
      port: 0,
      retentionDays: 0,
      maxPendingEvents: 1234,
      walAutocheckpointPages: 250,
    });
    try {
      const opts = (running.store as unknown as { opts: Record<string, unknown> }).opts;
      expect(opts).toMatchObject({ maxPendingEvents: 1234, walAutocheckpointPages: 250 });
      const { project } = await ensureDefaultProject(running.store);
      const res = await fetch(`${running.url}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${project.writeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ event: 'e', distinct_id: 'd' }]),
      });
      expect(res.status).toBe(202);
    } finally {
      await running.close();
    }
  });

  it('a port in use is a ServerStartError of kind port-in-use, and no data directory is created', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const parent = tempDir();
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    try {
      const err = await startServer({ dataDir, port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServerStartError);
      expect(err).toMatchObject({ kind: 'port-in-use' });
      // Refused before the store opened: no empty database for `homing projects` to find later.
      expect(existsSync(dataDir)).toBe(false);
      // Nothing held: the same directory opens at once.
      const again = await startServer({ dataDir, port: 0 });
      await again.close();
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('an address this machine lacks is a ServerStartError, and no data directory is created', async () => {
    const parent = tempDir();
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    // TEST-NET-3 (RFC 5737): never an address of this machine.
    const err = await startServer({ dataDir, host: '203.0.113.7', port: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect(err).toMatchObject({ kind: 'listen' });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses a bad port or host before opening anything', async () => {
    await expect(startServer({ port: 70_000 })).rejects.toMatchObject({
      kind: 'invalid-option',
      option: 'port',
    });
    await expect(startServer({ host: '' })).rejects.toMatchObject({ kind: 'invalid-option', option: 'host' });
  });

  it('refuses bad retention options before the store opens: no data directory, no wait for PostgreSQL', async () => {
    const parent = tempDir();
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    for (const retentionDays of [1_000_000_000, 1e20, -1]) {
      await expect(startServer({ dataDir, port: 0, retentionDays })).rejects.toMatchObject({
        name: 'RetentionOptionError',
        option: 'retentionDays',
      });
    }
    await expect(startServer({ dataDir, port: 0, retention: { batchSize: 0 } })).rejects.toMatchObject({
      name: 'RetentionOptionError',
      option: 'batchSize',
    });
    expect(existsSync(dataDir)).toBe(false);
    // Port 1 answers nothing: reaching PostgreSQL would be refused as unreachable instead.
    await expect(
      startServer({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', port: 0, retentionDays: 1e20 }),
    ).rejects.toMatchObject({ name: 'RetentionOptionError' });
  });
});
