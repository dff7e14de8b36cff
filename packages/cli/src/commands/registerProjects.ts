import { Option, type Command } from 'commander';
import type { RemoveProjectOptions } from './projectRemoval.js';
import type { ProjectsListOptions, RotateKeysOptions } from './projects.js';
import { PROJECTS_DEFAULTS } from './projectsDefaults.js';
import type { StoreLocation } from './projectsStore.js';
import { loadCommand } from './loadCommand.js';

// Each action loads its command when it runs, not for `homing --help` (see registerServe.ts).

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
    .description(
      "Create, list and remove a Homing server's projects, and replace their write and admin keys",
    );
  locationOptions(
    projects
      .command('create')
      .argument('<name>', 'project name (up to 200 characters)')
      .description('Create a project; prints { id, name, writeKey, adminKey } as JSON'),
  ).action(async (name: string, options: StoreLocation) => {
    const { createProjectCommand } = await loadCommand('projects create', () => import('./projects.js'));
    process.exitCode = await createProjectCommand(name, options);
  });
  locationOptions(
    projects
      .command('rotate-keys')
      .argument('<project>', "the project's id, or its name")
      .description(
        'Replace the write key, the admin key or both (neither flag: both) with new ones; the old ones stop working. Prints the project as JSON',
      )
      .option('--write', 'rotate the write key')
      .option('--admin', 'rotate the admin key'),
  ).action(async (given: string, options: RotateKeysOptions) => {
    const { rotateKeysCommand } = await loadCommand('projects rotate-keys', () => import('./projects.js'));
    process.exitCode = await rotateKeysCommand(given, options);
  });
  locationOptions(
    projects
      .command('remove')
      .argument('<project>', "the project's id, or its name")
      .description(
        'Remove a project for good: its keys stop working and its events, erasure log and suppression entries are deleted (without --yes: says what it would delete)',
      )
      .option('--yes', 'remove it (without it, nothing is removed)'),
  ).action(async (given: string, options: RemoveProjectOptions) => {
    const { removeProjectCommand } = await loadCommand(
      'projects remove',
      () => import('./projectRemoval.js'),
    );
    process.exitCode = await removeProjectCommand(given, options);
  });
  locationOptions(
    projects
      .command('list')
      .description('List projects (admin keys masked; --json prints every key); removed ones are not listed')
      .option('--json', 'print JSON instead of a table')
      .option('--show-keys', 'print admin keys in the table'),
  ).action(async (options: ProjectsListOptions) => {
    const { listProjectsCommand } = await loadCommand('projects list', () => import('./projects.js'));
    process.exitCode = await listProjectsCommand(options);
  });
}
