import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT_NAME, ensureDefaultProject } from './defaultProject.js';
import { startServer, type RunningServer } from './startServer.js';
import { freshDatabase, postgresReachable } from './store/postgres.test-helpers.js';
import { tempDir } from './store/sqlite.test-helpers.js';

const BACKENDS = (await postgresReachable()) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const SERVERS = 4;

describe.each(BACKENDS)('ensureDefaultProject (%s)', (backend) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** Where every server of one test keeps its data: one fresh database or data directory. */
  async function freshStorage(): Promise<{ dataDir?: string; databaseUrl?: string }> {
    if (backend === 'sqlite') {
      const dataDir = tempDir();
      cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      return { dataDir };
    }
    const db = await freshDatabase();
    cleanup.push(db.drop);
    return { databaseUrl: db.url };
  }

  async function startServers(storage: { dataDir?: string; databaseUrl?: string }): Promise<RunningServer[]> {
    const servers = await Promise.all(
      Array.from({ length: SERVERS }, () => startServer({ ...storage, port: 0, retentionDays: 0 })),
    );
    cleanup.push(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });
    return servers;
  }

  it('servers starting at once on empty storage create one default project and all answer its keys', async () => {
    const servers = await startServers(await freshStorage());
    const answers = await Promise.all(servers.map((s) => ensureDefaultProject(s.store)));
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    const writeKeys = new Set(answers.map((a) => a.project.writeKey));
    expect(writeKeys.size).toBe(1);
    expect(new Set(answers.map((a) => a.project.id)).size).toBe(1);
    const projects = await servers[0]!.store.listProjects();
    expect(projects).toEqual([answers[0]!.project]);
    expect(projects[0]!.name).toBe(DEFAULT_PROJECT_NAME);
    // Every server takes the key it printed.
    for (const s of servers) {
      expect(await s.store.findProjectByKey([...writeKeys][0]!)).toMatchObject({ role: 'write' });
    }
  });

  it('a later start answers the project that exists and creates none', async () => {
    const storage = await freshStorage();
    const [first] = await startServers(storage);
    const created = await ensureDefaultProject(first!.store);
    expect(created.created).toBe(true);
    const again = await Promise.all((await startServers(storage)).map((s) => ensureDefaultProject(s.store)));
    expect(again.every((a) => !a.created && a.project.writeKey === created.project.writeKey)).toBe(true);
    expect(await first!.store.listProjects()).toHaveLength(1);
  });
});
