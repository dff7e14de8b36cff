import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStore, StoreError, type Project, type Store } from '@homing/server';
import { Option, type Command } from 'commander';
import type { CommandIo } from './outboxCommand.js';
import { CommandError, processIo, runCommand } from './outboxCommand.js';
import { LOCK_HINT, diskFullHint } from './storeHints.js';

/**
 * `homing projects create NAME` and `homing projects list`: the projects of a Homing server's
 * store (the same `--data-dir` / `--database` as `homing serve`), each with a write key (ingest
 * only, safe in a browser) and an admin key (queries, export, erasure).
 */

export const PROJECTS_DEFAULTS = {
  dataDir: './.homing',
  dataDirEnv: 'HOMING_DATA_DIR',
  databaseEnv: 'HOMING_DATABASE_URL',
} as const;

export interface StoreLocation {
  /** SQLite directory; `./.homing` when absent. */
  dataDir?: string;
  /** `postgres://…`; SQLite in dataDir when absent or empty. */
  database?: string;
}

export interface ProjectsListOptions extends StoreLocation {
  json?: boolean;
  /** Print admin keys in the table instead of masking them. */
  showKeys?: boolean;
}

function usesSqlite(location: StoreLocation): boolean {
  return (location.database ?? '').trim() === '';
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
  const dataDir = resolve(given);
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
      return new CommandError(`${err.message} (${err.kind})`);
  }
}

async function withStore<T>(
  location: StoreLocation,
  mustExist: boolean,
  body: (s: Store) => Promise<T>,
): Promise<T> {
  const store = await open(location, mustExist);
  try {
    return await body(store);
  } catch (err) {
    throw storeCommandError(err, location.dataDir ?? PROJECTS_DEFAULTS.dataDir);
  } finally {
    await store.close();
  }
}

/** Creates a project and prints `{ id, name, writeKey, adminKey }` as JSON on stdout. */
export async function createProjectCommand(
  name: string,
  options: StoreLocation,
  io: CommandIo = processIo,
): Promise<number> {
  return runCommand(io, async () => {
    const p = await withStore(options, false, (s) => s.createProject(name));
    io.stdout.write(
      `${JSON.stringify({ id: p.id, name: p.name, writeKey: p.writeKey, adminKey: p.adminKey }, null, 2)}\n`,
    );
    if (io.stderr.isTTY === true) {
      io.stderr.write('The write key may ship in apps and browsers; keep the admin key secret.\n');
    }
    return 0;
  });
}

/** `ha_abcd…wxyz`: enough to tell keys apart in a table without showing the secret. */
export function maskKey(key: string): string {
  return key.length <= 12 ? '…' : `${key.slice(0, 7)}…${key.slice(-4)}`;
}

export function formatProjects(projects: readonly Project[], showKeys = false): string {
  const header = ['ID', 'NAME', 'CREATED', 'WRITE KEY', 'ADMIN KEY'];
  const rows = projects.map((p) => [
    p.id,
    p.name.replace(/[\x00-\x1f\x7f]/g, ' '),
    p.createdAt,
    p.writeKey,
    showKeys ? p.adminKey : maskKey(p.adminKey),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Lists projects as a table (admin keys masked unless showKeys) or as JSON with every key. */
export async function listProjectsCommand(
  options: ProjectsListOptions,
  io: CommandIo = processIo,
): Promise<number> {
  return runCommand(io, async () => {
    const projects = await withStore(options, true, (s) => s.listProjects());
    if (options.json === true) {
      io.stdout.write(`${JSON.stringify(projects, null, 2)}\n`);
      return 0;
    }
    if (projects.length === 0) {
      io.stdout.write('No projects yet. Create one with: homing projects create NAME\n');
      return 0;
    }
    io.stdout.write(formatProjects(projects, options.showKeys === true));
    if (options.showKeys !== true)
      io.stdout.write('Admin keys are masked; --show-keys or --json prints them.\n');
    return 0;
  });
}

function locationOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--data-dir <dir>', 'directory of the embedded SQLite database')
        .env(PROJECTS_DEFAULTS.dataDirEnv)
        .default(PROJECTS_DEFAULTS.dataDir),
    )
    .addOption(
      new Option('--database <url>', 'PostgreSQL URL (postgres://…); SQLite in --data-dir when unset').env(
        PROJECTS_DEFAULTS.databaseEnv,
      ),
    );
}

export function registerProjects(program: Command): void {
  const projects = program
    .command('projects')
    .description("Create and list a Homing server's projects and their write and admin keys");
  locationOptions(
    projects
      .command('create')
      .argument('<name>', 'project name (up to 200 characters)')
      .description('Create a project; prints { id, name, writeKey, adminKey } as JSON'),
  ).action(async (name: string, options: StoreLocation) => {
    process.exitCode = await createProjectCommand(name, options);
  });
  locationOptions(
    projects
      .command('list')
      .description('List projects (admin keys masked; --json prints every key)')
      .option('--json', 'print JSON instead of a table')
      .option('--show-keys', 'print admin keys in the table'),
  ).action(async (options: ProjectsListOptions) => {
    process.exitCode = await listProjectsCommand(options);
  });
}
