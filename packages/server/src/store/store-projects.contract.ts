import { expect, it } from 'vitest';
import type { IngestEvent, Project, Store } from './store.js';
import type { Suppressions } from './suppressions.js';

/** What the projects contract gets from the suite around it (see store.contract.ts). */
export interface ProjectsContractContext {
  store(): Store;
  /** The project the suite created for each test. */
  project(): Project;
  /** Another store on the same storage, closed by the suite. */
  another(): Promise<Store>;
  ev(over?: Partial<IngestEvent>): IngestEvent;
}

/**
 * Key rotation and project removal (registered inside describeStoreContract): old keys stop
 * working at once, nothing of a removed project is left or stored again, nothing of another
 * project is touched, and a new project never inherits a removed one's rows.
 */
export function projectsContract(c: ProjectsContractContext): void {
  const all = (s: Store, projectId: string) => s.queryEvents({ projectId, limit: 1000 });

  it('rotates the write key, the admin key or both: old keys find nothing, new ones their roles', async () => {
    const store = c.store();
    const project = c.project();
    const version = await store.keysVersion();
    await store.insertEvents(project.id, [c.ev()]);
    const w = await store.rotateProjectKeys(project.id, { write: true, admin: false });
    expect(w).toMatchObject({ id: project.id, name: project.name, adminKey: project.adminKey });
    expect(w.writeKey).toMatch(/^hw_[A-Za-z0-9_-]{32}$/);
    expect(w.writeKey).not.toBe(project.writeKey);
    expect(await store.findProjectByKey(project.writeKey)).toBeNull();
    expect(await store.findProjectByKey(w.writeKey)).toEqual({ project: w, role: 'write' });
    expect(await store.findProjectByKey(project.adminKey)).toEqual({ project: w, role: 'admin' });
    expect(await store.keysVersion()).not.toBe(version);

    const a = await store.rotateProjectKeys(project.id, { write: false, admin: true });
    expect(a.writeKey).toBe(w.writeKey);
    expect(a.adminKey).toMatch(/^ha_[A-Za-z0-9_-]{43}$/);
    expect(await store.findProjectByKey(project.adminKey)).toBeNull();
    const both = await store.rotateProjectKeys(project.id, { write: true, admin: true });
    expect(both.writeKey).not.toBe(a.writeKey);
    expect(both.adminKey).not.toBe(a.adminKey);
    for (const old of [w.writeKey, a.adminKey]) expect(await store.findProjectByKey(old)).toBeNull();

    // Another connection (another process) sees the new keys, and the events stay the project's.
    const other = await c.another();
    expect(await other.findProjectByKey(both.writeKey)).toEqual({ project: both, role: 'write' });
    expect(await other.findProjectByKey(w.writeKey)).toBeNull();
    expect(await other.listProjects()).toEqual([both]);
    expect(await all(other, project.id)).toHaveLength(1);
    expect(await store.insertEvents(project.id, [c.ev()])).toMatchObject({ accepted: 1 });
  });

  it('refuses a rotation naming no key, and one of no project', async () => {
    const store = c.store();
    const project = c.project();
    await expect(store.rotateProjectKeys(project.id, { write: false, admin: false })).rejects.toMatchObject({
      kind: 'invalid-input',
    });
    for (const id of ['no-such-project', '', 42 as unknown as string]) {
      await expect(store.rotateProjectKeys(id, { write: true, admin: true })).rejects.toMatchObject({
        kind: 'unknown-project',
      });
      await expect(store.removeProject(id)).rejects.toMatchObject({ kind: 'unknown-project' });
    }
    expect(await store.findProjectByKey(project.writeKey)).toMatchObject({ role: 'write' });
  });

  it('removes a project and everything of it, and nothing of another project', async () => {
    const store = c.store();
    const gone = c.project();
    const kept = await store.createProject('kept');
    const old = '2026-01-01T00:00:00.000Z';
    for (const p of [gone, kept]) {
      await store.insertEvents(p.id, [
        ...Array.from({ length: 30 }, (_, i) => c.ev({ distinctId: `u${i % 3}` })),
        c.ev({ distinctId: 'erased', timestamp: old }),
      ]);
      await store.erasePerson(p.id, 'erased', 'admin');
    }
    const before = {
      events: await all(store, kept.id),
      erasures: await store.listErasures({ projectId: kept.id, limit: 10 }),
    };

    const counted = await store.removeProject(gone.id, { dryRun: true });
    expect(counted).toEqual({
      project: gone,
      events: 30,
      erasures: 1,
      suppressions: 1,
      erasedKeys: 1,
      pendingEvents: 0,
    });
    // A dry run changes nothing.
    expect(await store.findProjectByKey(gone.writeKey)).toMatchObject({ role: 'write' });
    expect(await all(store, gone.id)).toHaveLength(30);

    const version = await store.keysVersion();
    const progress: [number, number][] = [];
    // Both stores keep suppression entries in memory (suppressions.ts), a private field of each.
    const inMemory = (s: Store): Suppressions =>
      (s as unknown as { suppressions: Suppressions }).suppressions;
    expect(inMemory(store).has(gone.id)).toBe(true);
    const removal = await store.removeProject(gone.id, { onProgress: (d, t) => progress.push([d, t]) });
    expect(removal).toEqual(counted);
    expect(progress.at(-1)).toEqual([30, 30]);
    expect(await store.keysVersion()).not.toBe(version);
    // The removed project's entries no longer take memory; the other project's stay.
    expect(inMemory(store).has(gone.id)).toBe(false);
    expect(inMemory(store).has(kept.id)).toBe(true);

    for (const s of [store, await c.another()]) {
      expect(await s.findProjectByKey(gone.writeKey)).toBeNull();
      expect(await s.findProjectByKey(gone.adminKey)).toBeNull();
      expect(await s.listProjects()).toEqual([kept]);
      expect(await all(s, gone.id)).toEqual([]);
      expect(await s.listErasures({ projectId: gone.id, limit: 10 })).toEqual([]);
      await expect(s.insertEvents(gone.id, [c.ev()])).rejects.toMatchObject({ kind: 'unknown-project' });
      expect(await all(s, kept.id)).toEqual(before.events);
      expect(await s.listErasures({ projectId: kept.id, limit: 10 })).toEqual(before.erasures);
    }
    await expect(store.removeProject(gone.id)).rejects.toMatchObject({ kind: 'unknown-project' });
    await expect(store.rotateProjectKeys(gone.id, { write: true, admin: true })).rejects.toMatchObject({
      kind: 'unknown-project',
    });
    // The other project's erasure still holds: the erased person's late event stays out.
    expect(await store.insertEvents(kept.id, [c.ev({ distinctId: 'erased', timestamp: old })])).toMatchObject(
      {
        accepted: 0,
        erased: 1,
      },
    );
  });

  it('a store that had the project open stores nothing more of it once it is removed', async () => {
    const store = c.store();
    const gone = c.project();
    // Another process ingesting into the project: it knows the project, as a server does.
    const serving = await c.another();
    expect(await serving.insertEvents(gone.id, [c.ev()])).toMatchObject({ accepted: 1 });
    await store.removeProject(gone.id);
    // Acknowledged into a log the removal no longer reaches (SQLite) or refused (PostgreSQL):
    // either way nothing of it is stored.
    await serving.insertEvents(gone.id, [c.ev(), c.ev()]).catch((err: unknown) => {
      expect(err).toMatchObject({ kind: 'unknown-project' });
    });
    const after = await c.another();
    const next = await after.createProject('next');
    for (const s of [serving, after, store]) {
      expect(await all(s, gone.id)).toEqual([]);
      expect(await all(s, next.id)).toEqual([]);
    }
  });

  it('a new project never gets a removed project’s rows, whatever the order of creation', async () => {
    const store = c.store();
    const first = c.project();
    const last = await store.createProject('last');
    await store.insertEvents(last.id, [c.ev({ distinctId: 'left' })]);
    await store.erasePerson(last.id, 'someone', 'admin');
    await store.removeProject(last.id);
    const next = await store.createProject('next');
    const again = await c.another();
    for (const s of [store, again]) {
      expect(await all(s, next.id)).toEqual([]);
      expect(await s.listErasures({ projectId: next.id, limit: 10 })).toEqual([]);
      expect((await s.listProjects()).map((p) => p.name)).toEqual([first.name, 'next']);
    }
    expect(
      await store.insertEvents(next.id, [c.ev({ distinctId: 'someone', timestamp: '2020-01-01T00:00:00Z' })]),
    ).toEqual({
      accepted: 1,
      duplicates: 0,
      erased: 0,
    });
  });

  it('removes many events in bounded batches, with progress, and finishes a removal that was interrupted', async () => {
    const store = c.store();
    const gone = c.project();
    for (let b = 0; b < 6; b++)
      await store.insertEvents(
        gone.id,
        Array.from({ length: 500 }, () => c.ev()),
      );
    // Stored (on SQLite, moved out of the ingest log: reads wait for that).
    expect(await all(store, gone.id)).toHaveLength(1000);
    const progress: [number, number][] = [];
    // Closed after the first batch, as a Ctrl-C or a crash would stop it.
    await expect(
      store.removeProject(gone.id, {
        onProgress: (d, t) => {
          progress.push([d, t]);
          if (progress.length === 1) void store.close();
        },
      }),
    ).rejects.toMatchObject({ kind: 'closed' });
    expect(progress).toHaveLength(1);
    expect(progress[0]![0]).toBeLessThan(3000);
    expect(progress[0]![1]).toBe(3000);

    const again = await c.another();
    expect(await again.findProjectByKey(gone.writeKey)).toBeNull();
    expect(await again.listProjects()).toEqual([]);
    const rest: [number, number][] = [];
    const removal = await again.removeProject(gone.id, { onProgress: (d, t) => rest.push([d, t]) });
    expect(removal.events).toBe(3000 - progress[0]![0]);
    expect(rest.length).toBeGreaterThan(1);
    expect(rest.at(-1)).toEqual([removal.events, removal.events]);
    await expect(again.removeProject(gone.id)).rejects.toMatchObject({ kind: 'unknown-project' });
  });

  it('firstProjectOrCreate skips a removed project', async () => {
    const store = c.store();
    const first = c.project();
    const second = await store.createProject('second');
    await store.removeProject(first.id);
    expect(await store.firstProjectOrCreate('default')).toEqual({ project: second, created: false });
    await store.removeProject(second.id);
    const made = await store.firstProjectOrCreate('default');
    expect(made).toMatchObject({ created: true, project: { name: 'default' } });
  });
}
