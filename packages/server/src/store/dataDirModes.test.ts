import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirExposure } from './dataDirModes.js';
import { openStore } from './open-store.js';
import { tempDir } from './sqlite.test-helpers.js';

const modeOf = (p: string): number => statSync(p).mode & 0o777;

/** Runs `f` under umask 022, the usual default, under which a plain mkdir or open is world readable. */
async function underUmask022<T>(f: () => Promise<T>): Promise<T> {
  const before = process.umask(0o022);
  try {
    return await f();
  } finally {
    process.umask(before);
  }
}

describe.skipIf(process.platform === 'win32')('the data directory and its database files', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("are created readable by their owner only (0700, 0600, SQLite's -wal and -shm too); parents as by mkdir -p", async () => {
    const root = tempDir();
    dirs.push(root);
    const dataDir = join(root, 'parent', 'data');
    await underUmask022(async () => {
      const store = await openStore({ dataDir });
      try {
        const p = await store.createProject('modes');
        await store.insertEvents(p.id, [
          {
            uuid: '0193a5c0-0000-7000-8000-000000000001',
            event: 'e',
            distinctId: 'd',
            timestamp: new Date().toISOString(),
            originalTimestamp: null,
            receivedAt: new Date().toISOString(),
            properties: {},
          },
        ]);
        expect(modeOf(dataDir)).toBe(0o700);
        expect(modeOf(join(root, 'parent'))).toBe(0o755);
        for (const f of [
          'homing.db',
          'homing.db-wal',
          'homing.db-shm',
          'ingest-log.db',
          'ingest-log.db-wal',
        ]) {
          expect([f, modeOf(join(dataDir, f))]).toEqual([f, 0o600]);
        }
        expect(dataDirExposure(dataDir)).toBeNull();
      } finally {
        await store.close();
      }
    });
  });

  it("an existing directory and files keep the user's modes, and the exposure names them and the fix", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, 'homing.db'), '');
    chmodSync(join(dataDir, 'homing.db'), 0o644);
    await underUmask022(async () => {
      await (await openStore({ dataDir })).close();
    });
    expect(modeOf(dataDir)).toBe(0o755);
    expect(modeOf(join(dataDir, 'homing.db'))).toBe(0o644);
    const exposed = dataDirExposure(dataDir);
    expect(exposed).toMatchObject({
      dataDir,
      mode: '755',
      readableFiles: [join(dataDir, 'homing.db')],
      fix: `chmod 700 ${dataDir} && chmod 600 ${join(dataDir, 'homing.db')}`,
    });
    // ingest-log.db was created by this open: 0600 even in an open directory.
    expect(modeOf(join(dataDir, 'ingest-log.db'))).toBe(0o600);
    expect(exposed!.message).toContain(`run chmod 700 ${dataDir}`);
  });

  it('a directory others cannot enter exposes no file; a private one, a missing one and Windows nothing', () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    writeFileSync(join(dataDir, 'homing.db'), '');
    chmodSync(join(dataDir, 'homing.db'), 0o644);
    expect(dataDirExposure(dataDir)).toBeNull();
    chmodSync(dataDir, 0o744);
    expect(dataDirExposure(dataDir)).toMatchObject({ mode: '744', readableFiles: [] });
    expect(dataDirExposure(dataDir, 'win32')).toBeNull();
    const spaced = join(dataDir, "it's here");
    mkdirSync(spaced, 0o755);
    chmodSync(spaced, 0o755);
    expect(dataDirExposure(spaced)!.fix).toBe(`chmod 700 '${dataDir}/it'\\''s here'`);
    expect(dataDirExposure(join(dataDir, 'missing'))).toBeNull();
  });

  it('a directory or database file another account owns is an exposure too, whatever its modes (it can read and change them)', () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    writeFileSync(join(dataDir, 'homing.db'), '');
    chmodSync(join(dataDir, 'homing.db'), 0o600);
    const me = statSync(dataDir).uid;
    expect(dataDirExposure(dataDir, 'linux', me)).toBeNull();
    // As seen by a server running as another account: everything here is someone else's.
    const other = me + 1;
    const exposed = dataDirExposure(dataDir, 'linux', other);
    expect(exposed).toMatchObject({
      ownedByOthers: [dataDir, join(dataDir, 'homing.db')],
      readableFiles: [],
      fix: `chown ${other} ${dataDir} ${join(dataDir, 'homing.db')}`,
    });
    expect(exposed!.message).toContain(
      'holds what another account owns, which can read and change it whatever the modes: the directory itself, homing.db',
    );
    chmodSync(dataDir, 0o755);
    expect(dataDirExposure(dataDir, 'linux', other)!.message).toMatch(
      /is open to other users of this machine \(mode 755\); it also holds what another account owns/,
    );
  });
});
