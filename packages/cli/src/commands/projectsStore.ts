import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { givenPath } from './givenPath.js';
import { PROJECTS_DEFAULTS } from './projectsDefaults.js';
import { openStore, StoreError, type Project, type Store } from '@homing/server';
import { CommandError } from './outboxCommand.js';
import { LOCK_HINT, diskFullHint } from './storeHints.js';
import { BUSY_WAIT_DEFAULTS, retryWhileBusy, type BusyWait } from './storeBusyWait.js';

/**
 * Where `homing projects` finds a server's store (the same `--data-dir` / `--database` as
 * `homing serve`), opened for projects only, and the project a command names.
 */

export { PROJECTS_DEFAULTS };

export interface StoreLocation {
  /** SQLite directory; `./.homing` when absent. */
  dataDir?: string;
  /** `postgres://…`; SQLite in dataDir when absent or empty. */
  database?: string;
}

function usesSqlite(location: StoreLocation): boolean {
  return (location.database ?? '').trim() === '';
}

/**
 * The directory a SQLite location names when it holds no database yet (what opening it will
 * make); undefined for PostgreSQL or a directory that has one.
 */
export function sqliteDirWithoutDatabase(location: StoreLocation): string | undefined {
  if (!usesSqlite(location)) return undefined;
  const given = location.dataDir ?? PROJECTS_DEFAULTS.dataDir;
  if (given.trim() === '') return undefined;
  const dataDir = givenPath(given);
  return existsSync(join(dataDir, 'homing.db')) ? undefined : dataDir;
}

async function open(location: StoreLocation, mustExist: boolean): Promise<Store> {
  const given = location.dataDir ?? PROJECTS_DEFAULTS.dataDir;
  if (usesSqlite(location) && given.trim() === '') {
    // resolve('') is the current directory: the database would land wherever this was run.
    const from =
      process.env[PROJECTS_DEFAULTS.dataDirEnv] === given ? ` (from ${PROJECTS_DEFAULTS.dataDirEnv})` : '';
    throw new CommandError(
      `--data-dir names no directory, got "${given}"${from}`,
      `pass the directory "homing serve" uses with --data-dir DIR (default ${PROJECTS_DEFAULTS.dataDir}), or unset ${PROJECTS_DEFAULTS.dataDirEnv}`,
      2,
    );
  }
  const dataDir = givenPath(given);
  // Listing must not create an empty database where a typo points; creating a project may.
  if (mustExist && usesSqlite(location) && !existsSync(join(dataDir, 'homing.db'))) {
    throw new CommandError(
      `No Homing data in ${dataDir}`,
      `Pass the directory "homing serve" uses with --data-dir DIR (or ${PROJECTS_DEFAULTS.dataDirEnv}), ` +
        `or a PostgreSQL URL with --database (or ${PROJECTS_DEFAULTS.databaseEnv}).`,
    );
  }
  try {
    // Projects only: with the full store, its own expander worker would expand a running
    // server's backlog (and keep at it for the close budget), taking seconds and switching the
    // server's key filter off until it restarts.
    return await openStore({ dataDir, databaseUrl: location.database, projectsOnly: true });
  } catch (err) {
    throw storeCommandError(err, dataDir);
  }
}

function storeCommandError(err: unknown, dataDir: string): unknown {
  if (!(err instanceof StoreError)) return err;
  switch (err.kind) {
    case 'invalid-input':
      return new CommandError(err.message, undefined, 2);
    case 'unsupported-url':
      return new CommandError(
        err.message,
        'Use --database postgres://user@host:5432/db, or leave it unset for SQLite.',
        2,
      );
    case 'unreachable':
      return new CommandError(err.message, 'Is PostgreSQL running, and does the database exist?');
    case 'timeout':
      return new CommandError(err.message, LOCK_HINT);
    case 'disk-full':
      return new CommandError(err.message, diskFullHint(dataDir));
    case 'data-dir':
      // The store's message says what to do: the advice differs for a file the user may not
      // write and a damaged one.
      return new CommandError(err.message);
    default:
      // The kind is for code, not for the user: "database is locked (storage)" said nothing more.
      return new CommandError(err.message);
  }
}

/**
 * How a command waits for homing.db's write lock held by another process (`wait`), and what it
 * shows once it starts waiting (`onWaiting`: a note on a terminal, or the command looks hung).
 */
export interface StoreBusyHandling {
  /**
   * false: a busy answer fails the command at once. For a body that commits in several steps
   * (a project's removal: marked removed, then deleted in batches), which run again from the top
   * no longer finds by name what its first run marked removed.
   */
  retry?: boolean;
  wait?: BusyWait;
  onWaiting?: (dataDir: string, wait: BusyWait) => void;
}

/**
 * Runs `body` on the store `location` names, then closes it. A body SQLite answers busy
 * (another process, a running server, holds homing.db's write lock) is run again, pausing
 * between tries, for `busy.wait` (BUSY_WAIT_DEFAULTS), unless `busy.retry` is false: it must be
 * one transaction, so that a busy answer means it wrote nothing.
 */
export async function withStore<T>(
  location: StoreLocation,
  mustExist: boolean,
  body: (s: Store) => Promise<T>,
  busy: StoreBusyHandling = {},
): Promise<T> {
  const store = await open(location, mustExist);
  const dataDir = givenPath(location.dataDir ?? PROJECTS_DEFAULTS.dataDir);
  const wait = busy.wait ?? BUSY_WAIT_DEFAULTS;
  try {
    if (busy.retry === false) return await body(store);
    return await retryWhileBusy(
      () => body(store),
      dataDir,
      wait,
      () => busy.onWaiting?.(dataDir, wait),
    );
  } catch (err) {
    throw storeCommandError(err, dataDir);
  } finally {
    await store.close();
  }
}

/**
 * The project `given` names: its id, or else its name, which must be one project's only (two of
 * the same name are refused, with their ids). Removed projects are not found.
 */
export async function findProject(store: Store, given: string): Promise<Project> {
  if (given.trim() === '') {
    throw new CommandError(
      `name the project by its id or its name, got "${given}"`,
      'homing projects list shows them',
      2,
    );
  }
  const projects = await store.listProjects();
  const byId = projects.find((p) => p.id === given);
  if (byId !== undefined) return byId;
  const named = projects.filter((p) => p.name === given);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw new CommandError(
      `${named.length} projects are named "${given}": ${named.map((p) => `${p.id} (created ${p.createdAt})`).join(', ')}`,
      'name the one you mean by its id',
      2,
    );
  }
  throw new NoSuchProject(given);
}

/** No live project has the id or the name a command was given. */
export class NoSuchProject extends CommandError {
  constructor(given: string) {
    super(
      `no project has the id or the name "${given}"`,
      'homing projects list shows them (pass the same --data-dir or --database as homing serve)',
    );
  }
}
