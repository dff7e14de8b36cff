import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import { openFailureAdvice } from './sqlite-open-failure.js';
import { tempDir } from './sqlite.test-helpers.js';

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

  it('a homing.db that cannot be opened as a file gets the access advice, not "move it aside"', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'homing.db'));
    const err = openError(dir);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toContain('SQLITE_CANTOPEN');
    expect(err.message).toContain(`is a file you may read and write, in a directory you may write (${dir})`);
    expect(err.message).not.toContain('move it aside');
  });

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
});
