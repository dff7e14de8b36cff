import type { Project } from '@homing/server';
import type { CommandIo } from './outboxCommand.js';
import { processIo, runCommand } from './outboxCommand.js';
import { displayWidth, padToWidth } from '../displayWidth.js';
import { terminalJson, terminalText } from '../terminalText.js';
import {
  findProject,
  PROJECTS_DEFAULTS,
  sqliteDirWithoutDatabase,
  withStore,
  type StoreBusyHandling,
  type StoreLocation,
} from './projectsStore.js';
import type { BusyWait } from './storeBusyWait.js';
import { CommandError } from './commandError.js';
import { processOutput, writeConfirmed } from '../outputFailures.js';
import { keysCommand } from './serve.js';
import { givenPath } from './givenPath.js';

export { PROJECTS_DEFAULTS, type StoreLocation } from './projectsStore.js';

/**
 * `homing projects create | list | rotate-keys | remove`: the projects of a Homing server's store
 * (the same `--data-dir` / `--database` as `homing serve`), each with a write key (ingest only,
 * safe in a browser) and an admin key (queries, export, erasure).
 */

export interface RotateKeysOptions extends StoreLocation {
  /** Rotate the write key (with neither flag, both keys are rotated). */
  write?: boolean;
  admin?: boolean;
}

export interface ProjectsListOptions extends StoreLocation {
  json?: boolean;
  /** Print admin keys in the table instead of masking them. */
  showKeys?: boolean;
}

/**
 * Waiting for homing.db's write lock (a running server busy writing): said on a terminal, where
 * a command silent for many seconds looks hung; a script only sees the result.
 */
function busyHandling(io: CommandIo, wait: BusyWait | undefined): StoreBusyHandling {
  return {
    ...(wait === undefined ? {} : { wait }),
    onWaiting: (dataDir, w) => {
      if (io.stderr.isTTY !== true) return;
      io.stderr.write(
        `waiting for the database in ${terminalText(dataDir)}: another process (most likely a running homing serve) ` +
          `holds its write lock; trying again for up to ${Math.round(w.budgetMs / 1000)} s (Ctrl-C to stop)\n`,
      );
    },
  };
}

/**
 * Creates a project and prints `{ id, name, writeKey, adminKey }` as JSON on stdout. `busyWait`:
 * how long to wait out a running server's hold on homing.db (BUSY_WAIT_DEFAULTS).
 */
export async function createProjectCommand(
  name: string,
  options: StoreLocation,
  io: CommandIo = processIo,
  busyWait?: BusyWait,
): Promise<number> {
  return runCommand(io, async () => {
    const madeDatabaseIn = sqliteDirWithoutDatabase(options);
    // Said even when the create then fails (a bad name): the database is made all the same, and
    // the next create in that directory would find it and say nothing.
    const noteMadeDatabase = (): void => {
      if (madeDatabaseIn === undefined || sqliteDirWithoutDatabase(options) !== undefined) return;
      // A mistyped --data-dir made a database no server reads: its keys would get 401 everywhere.
      io.stderr.write(
        `note: there was no Homing database in ${madeDatabaseIn}, so a new one was made there; a "homing serve" using another --data-dir does not know this project\n`,
      );
    };
    const { p, namesakes } = await withStore(
      options,
      false,
      async (s) => {
        const before = await s.listProjects();
        // A project's id wins over a name when a command is given either (findProject): a
        // project named after another's id could never be named, and `remove NAME` would
        // remove the other one.
        if (before.some((other) => other.id === name.trim())) {
          throw new CommandError(
            `"${name}" is the id of another project: a project by that name could only ever be found as that one`,
            'choose another name',
            2,
          );
        }
        const made = await s.createProject(name);
        return { p: made, namesakes: before.filter((other) => other.name === made.name) };
      },
      busyHandling(io, busyWait),
    ).catch((error: unknown) => {
      noteMadeDatabase();
      throw error;
    });
    noteMadeDatabase();
    await printKeys(io, p, options, 'was created');
    if (namesakes.length > 0) {
      // Allowed (names are labels), but commands by name refuse it from now on: said at once.
      io.stderr.write(
        `note: ${namesakes.length === 1 ? 'another project is' : `${namesakes.length} other projects are`} named ${terminalJson(p.name)} too (${namesakes.map((o) => o.id).join(', ')}); commands that take a project need its id now
`,
      );
    }
    if (io.stderr.isTTY === true) {
      io.stderr.write('The write key may ship in apps and browsers; keep the admin key secret.\n');
    }
    return 0;
  });
}

/**
 * Prints the project with its keys, which no later run prints again as they are: written to a
 * full disk (`> file`) or a reader gone, the project exists all the same, so the failure says so
 * and where its keys are.
 */
async function printKeys(io: CommandIo, p: Project, where: StoreLocation, what: string): Promise<void> {
  const failed = await writeConfirmed(io.stdout, projectJson(p));
  if (failed === null) return;
  processOutput.toldBy(io.stdout);
  const database = (where.database ?? '').trim();
  throw new CommandError(
    `project ${terminalJson(p.name)} (${p.id}) ${what}, but writing its keys to stdout failed (${failed.code ?? failed.message})`,
    `${keysCommand(database === '' ? { dataDir: givenPath(where.dataDir ?? PROJECTS_DEFAULTS.dataDir) } : { databaseUrl: database })} shows them`,
  );
}

function projectJson(p: Project): string {
  return `${terminalJson({ id: p.id, name: p.name, writeKey: p.writeKey, adminKey: p.adminKey }, 2)}\n`;
}

/**
 * Replaces a project's write key, admin key or both (neither flag: both) with new random ones
 * and prints the project as `projects create` does. The old keys stop working: at once for this
 * store and the admin API of every server, and for ingest within about a second on servers
 * running on the same data (they look at the store's keys version once a second).
 */
export async function rotateKeysCommand(
  given: string,
  options: RotateKeysOptions,
  io: CommandIo = processIo,
  busyWait?: BusyWait,
): Promise<number> {
  return runCommand(io, async () => {
    const neither = options.write !== true && options.admin !== true;
    const which = { write: neither || options.write === true, admin: neither || options.admin === true };
    const p = await withStore(
      options,
      true,
      async (s) => s.rotateProjectKeys((await findProject(s, given)).id, which),
      busyHandling(io, busyWait),
    );
    await printKeys(io, p, options, 'got new keys');
    if (which.write) {
      io.stderr.write(
        'The old write key is refused from now on; a running homing serve refuses it within about a second ' +
          '(it looks for changed keys once a second). Apps sending with it get 401: give them the new one.\n',
      );
    }
    if (which.admin) io.stderr.write('The old admin key is refused from now on.\n');
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
    terminalText(p.name),
    p.createdAt,
    p.writeKey,
    showKeys ? p.adminKey : maskKey(p.adminKey),
  ]);
  // Measured in columns: a project's name may be `テレメトリ` or carry an emoji.
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i]!))));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : padToWidth(c, widths[i]!)))
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
      io.stdout.write(`${terminalJson(projects, 2)}\n`);
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
