import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import { openFailureAdvice } from './sqlite-open-failure.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { migrateFailure, openSqlite, tempDir, writeUnexpandedBacklog } from './sqlite.test-helpers.js';

function openError(dataDir: string): Error {
  try {
    new SqliteStore({ dataDir });
  } catch (e) {
    return e as Error;
  }
  throw new Error('opened');
}

describe('openFailureAdvice', () => {
  const damaged = 'move it aside';

  it('advises by cause: damage for NOTADB and CORRUPT, access for CANTOPEN, READONLY, PERM', () => {
    for (const code of ['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX']) {
      expect(openFailureAdvice(code, '/d/homing.db', '/d', damaged)).toBe(damaged);
    }
    for (const code of [
      'SQLITE_CANTOPEN',
      'SQLITE_READONLY_DIRECTORY',
      'SQLITE_READONLY',
      'SQLITE_PERM',
      'EACCES',
    ]) {
      const advice = openFailureAdvice(code, '/d/homing.db', '/d', damaged);
      expect(advice).toMatch(
        /^check that \/d\/homing\.db is a file you may read and write, in a directory you may write \(\/d\)/,
      );
      expect(advice).not.toContain(damaged);
    }
    // Anything else could be either.
    for (const code of ['SQLITE_IOERR', undefined, 42]) {
      const advice = openFailureAdvice(code, '/d/homing.db', '/d', damaged);
      expect(advice).toContain(damaged);
      expect(advice).toContain('you may read and write');
    }
  });

  it('a damaged homing.db is named damaged, with no talk of permissions', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'homing.db'), Buffer.alloc(8192, 0x5a));
    const store = (() => {
      try {
        return new SqliteStore({ dataDir: dir });
      } catch (e) {
        return e as Error;
      }
    })();
    // SQLite reads the header lazily: the error may come from open or from migrate.
    const err =
      store instanceof Error
        ? store
        : await store.migrate().then(
            () => new Error('opened'),
            (e: Error) => e,
          );
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toMatch(
      /SQLITE_NOTADB: file is not a database\): move it aside \(with its -wal and -shm files\) and restore a backup$/,
    );
  });

  it('a new homing.db beside an ingest log holding events is refused, the log kept for the old one put back', async () => {
    const dir = tempDir();
    const first = await openSqlite({ dataDir: dir });
    await first.createProject('p');
    await first.close();
    writeUnexpandedBacklog(dir, 300);
    // Moved aside, as the damage advice says; the server is started before the backup is back.
    mkdirSync(join(dir, 'aside'));
    for (const f of ['homing.db', 'homing.db-wal', 'homing.db-shm']) {
      if (existsSync(join(dir, f))) renameSync(join(dir, f), join(dir, 'aside', f));
    }
    for (let start = 0; start < 2; start++) {
      const err = await migrateFailure(dir);
      expect(err).toMatchObject({ kind: 'data-dir' });
      expect(err.message).toContain('holds 300 acknowledged events not yet stored');
      expect(err.message).toContain('put that homing.db (or its backup');
    }
    const log = new Database(join(dir, LOG_FILE), { readonly: true });
    expect(log.prepare('SELECT sum(n) FROM ingest_log').pluck().get()).toBe(300);
    log.close();
    // The old homing.db put back: the events are stored.
    for (const f of ['homing.db', 'homing.db-wal', 'homing.db-shm']) rmSync(join(dir, f), { force: true });
    for (const f of ['homing.db', 'homing.db-wal', 'homing.db-shm']) {
      if (existsSync(join(dir, 'aside', f))) renameSync(join(dir, 'aside', f), join(dir, f));
    }
    const back = await openSqlite({ dataDir: dir });
    await back.drain();
    await back.close();
    const db = new Database(join(dir, 'homing.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(300);
    db.close();
  });

  it('a file where the data directory, or a parent of it, should be is named as such', () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'x');
    const err = openError(file);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toBe(
      `cannot create the data directory ${file} (EEXIST); ${file} is a file, not a directory; move it aside, or choose another directory with --data-dir or HOMING_DATA_DIR`,
    );
    const under = join(file, 'data');
    expect(openError(under).message).toBe(
      `cannot create the data directory ${under} (ENOTDIR); a part of its path is a file, not a directory; choose another directory with --data-dir or HOMING_DATA_DIR`,
    );
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  // A link whose target was removed (or sits on a disk not mounted) was told as "a file, not a
  // directory": nobody found a file there.
  it('a data directory that is a dangling symbolic link, or under one, is named as such with where it points', () => {
    const dir = tempDir();
    const link = join(dir, 'data');
    const target = join(dir, 'gone', 'data');
    symlinkSync(target, link);
    const err = openError(link);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toBe(
      `cannot create the data directory ${link} (EEXIST); ${link} is a dangling symbolic link: it points to ${target}, which does not exist; create that directory (or mount the disk it is on), or point the link or --data-dir / HOMING_DATA_DIR elsewhere`,
    );
    expect(openError(join(link, 'homing')).message).toContain(
      `${link} is a dangling symbolic link: it points to ${target}, which does not exist`,
    );
    expect(existsSync(target)).toBe(false);
  });

  it('a homing.db that cannot be opened as a file gets the access advice, not "move it aside"', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'homing.db'));
    const err = openError(dir);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toContain('SQLITE_CANTOPEN');
    expect(err.message).toContain(`is a file you may read and write, in a directory you may write (${dir})`);
    expect(err.message).not.toContain('move it aside');
  });

  // A real read-only mount (a snapshot, a container's read-only volume): SQLite cannot make the
  // -wal and -shm files beside the database and says only SQLITE_CANTOPEN.
  it.runIf(process.getuid?.() === 0)(
    'a data directory on a read-only mount is named as such, whatever SQLite says',
    async () => {
      const mountPoint = tempDir();
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
      try {
        const dir = join(mountPoint, 'data');
        const store = await openSqlite({ dataDir: dir });
        await store.close();
        execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
        for (const projectsOnly of [false, true]) {
          const err = failureOf(() => new SqliteStore({ dataDir: dir, projectsOnly }));
          expect(err).toMatchObject({ kind: 'data-dir' });
          expect(err.message).toContain(
            `the file system under ${dir} is mounted read-only; mount it read-write`,
          );
          expect(err.message).not.toContain('move it aside');
        }
      } finally {
        execFileSync('umount', [mountPoint]);
      }
    },
  );

  describe('better-sqlite3’s native module cannot be loaded (it loads inside the first open)', () => {
    function failure(openDatabase: SqliteStoreOptions['openDatabase']): Error {
      const dir = join(tempDir(), 'not-yet');
      try {
        new SqliteStore({ dataDir: dir, openDatabase });
      } catch (e) {
        return e as Error;
      }
      throw new Error('opened');
    }
    const expectAddonAdvice = (err: Error, original: string): void => {
      expect(err).toMatchObject({ kind: 'data-dir' });
      expect(err.message).toContain('the better-sqlite3 native module could not be loaded');
      expect(err.message).toContain(original);
      expect(err.message).toContain('npm rebuild better-sqlite3');
      expect(err.message).not.toContain('restore a backup');
      expect(err.message).not.toContain('move it aside');
    };

    it('an addon built for something else (ERR_DLOPEN_FAILED, the real loader on a garbage file)', () => {
      const bad = join(tempDir(), 'better_sqlite3.node');
      writeFileSync(bad, 'garbage');
      const err = failure((file, o) => new Database(file, { ...o, nativeBinding: bad }));
      expect((err.cause as { code?: unknown }).code).toBe('ERR_DLOPEN_FAILED');
      expectAddonAdvice(err, (err.cause as Error).message);
    });

    it('an addon never built, or for another Node.js version', () => {
      const messages = [
        'Could not locate the bindings file. Tried:\n → /app/node_modules/better-sqlite3/build/better_sqlite3.node',
        "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115. This version of Node.js requires NODE_MODULE_VERSION 127.",
      ];
      for (const message of messages) {
        const err = failure(() => {
          throw new Error(message);
        });
        expectAddonAdvice(err, message);
      }
    });

    it('any other failure to open says what SQLite said, code and message', () => {
      const err = failure(() => {
        throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      });
      expect(err.message).toContain('(SQLITE_IOERR: disk I/O error)');
      expect(err.message).not.toContain('native module');
    });
  });

  describe('a database file this process may read but not write (SQLite opens it read-only without a word)', () => {
    const made = async (): Promise<string> => {
      const dir = tempDir();
      const store = await openSqlite({ dataDir: dir });
      await store.close();
      return dir;
    };
    const readOnly: SqliteStoreOptions['openDatabase'] = (file, o) =>
      new Database(file, { ...o, readonly: true });

    it('refuses to start rather than acknowledge events it could never store', async () => {
      const dir = await made();
      const before = readFileSync(join(dir, 'homing.db'));
      const err = failureOf(() => new SqliteStore({ dataDir: dir, openDatabase: readOnly }));
      expect(err).toMatchObject({ kind: 'data-dir' });
      expect(err.message).toContain(`cannot write ${join(dir, 'homing.db')} (SQLITE_READONLY`);
      expect(err.message).toContain('may read it but not write it');
      expect(err.message).not.toContain('move it aside');
      // The probe changed nothing, and a store that may write opens as before.
      expect(readFileSync(join(dir, 'homing.db')).equals(before)).toBe(true);
      const store = await openSqlite({ dataDir: dir });
      await store.close();
    });

    it('homing projects (projectsOnly) still opens it to read', async () => {
      const dir = await made();
      const store = await openSqlite({ dataDir: dir, projectsOnly: true, openDatabase: readOnly });
      await expect(store.listProjects()).resolves.toEqual([]);
      await store.close();
    });

    // Real permissions: the file root's (as `sudo homing ...` leaves it), the server not root.
    it.runIf(process.getuid?.() === 0 && typeof process.seteuid === 'function')(
      'left root-owned in a directory of the server’s user: refused at start',
      async () => {
        const dir = await made();
        chownSync(dir, 65534, 65534);
        chownSync(join(dir, 'ingest-log.db'), 65534, 65534);
        chmodSync(join(dir, 'homing.db'), 0o644);
        let err: Error;
        // Synchronous from here to seteuid(0): nothing else of this process runs as 65534.
        process.seteuid!(65534);
        try {
          err = failureOf(() => new SqliteStore({ dataDir: dir }));
        } finally {
          process.seteuid!(0);
        }
        expect(err).toMatchObject({ kind: 'data-dir' });
        expect(err.message).toContain(`cannot write ${join(dir, 'homing.db')} (SQLITE_READONLY`);
      },
    );

    // The user's own directory with its write bit off: a chown to the same user changes nothing.
    // In a child running as 65534 (real and effective: access(2), which the advice asks, checks
    // the real user, and seteuid in this process would leave that root).
    const adviceAsNobody = (dir: string): string => {
      const register = fileURLToPath(
        new URL('../../../client/src/outbox/file-log/__fixtures__/register-ts.mjs', import.meta.url),
      );
      const module = fileURLToPath(new URL('./sqlite-open-failure.ts', import.meta.url));
      const script = `const { notWritableAdvice } = await import(${JSON.stringify(module)});
        console.log(notWritableAdvice(${JSON.stringify(join(dir, 'homing.db'))}, ${JSON.stringify(dir)}));`;
      const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 20_000,
        uid: 65534,
        gid: 65534,
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const dataDirIn = (owner: number, mode: number): string => {
      const parent = tempDir();
      chmodSync(parent, 0o755);
      const dir = join(parent, 'data');
      mkdirSync(dir);
      chownSync(dir, owner, owner);
      chmodSync(dir, mode);
      return dir;
    };

    it.runIf(process.getuid?.() === 0)(
      "the server user's own data directory without write permission: chmod, not chown",
      () => {
        const dir = dataDirIn(65534, 0o500);
        const advice = adviceAsNobody(dir);
        expect(advice).toContain(`the data directory ${dir} belongs to uid 65534 (mode 500)`);
        expect(advice).toContain(
          `their owner, without write permission on them: give it back (chmod -R u+rwX ${dir})`,
        );
        expect(advice).not.toContain('chown');
      },
      30_000,
    );

    it.runIf(process.getuid?.() === 0)(
      "another user's data directory: chown, and chmod where the owner's write bit is off too",
      () => {
        const readOnly = dataDirIn(0, 0o555);
        expect(adviceAsNobody(readOnly)).toMatch(
          new RegExp(
            `belongs to uid 0 \\(mode 555\\).*sudo chown -R \\S+ ${readOnly} && chmod -R u\\+rwX ${readOnly}\\)`,
          ),
        );
        const writable = dataDirIn(0, 0o755);
        const advice = adviceAsNobody(writable);
        expect(advice).toContain(`sudo chown -R nobody ${writable}),`);
        expect(advice).not.toContain('chmod');
      },
      30_000,
    );
  });
});

function failureOf(open: () => unknown): Error {
  try {
    open();
  } catch (e) {
    return e as Error;
  }
  throw new Error('opened');
}
