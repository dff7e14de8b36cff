import type { Command } from 'commander';

/**
 * Which store a command with both `--data-dir` (SQLite) and `--database` (PostgreSQL) opens,
 * before its action runs. The URL wins as such; but a `--data-dir` typed on the command line
 * beats a `HOMING_DATABASE_URL` left in the environment (a flag is the nearer choice), with a
 * note; both typed is refused: a user who names two stores has not said which one they meant.
 * Silently, the variable won, and `projects create x --data-dir ./.homing` wrote to PostgreSQL.
 */
export function settleStoreChoice(cmd: Command, stderr: NodeJS.WritableStream = process.stderr): void {
  const names = cmd.options.map((o) => o.attributeName());
  if (!names.includes('dataDir') || !names.includes('database')) return;
  const database: unknown = cmd.getOptionValue('database');
  if (typeof database !== 'string' || database.trim() === '') return;
  const dirFrom = cmd.getOptionValueSource('dataDir');
  const databaseFrom = cmd.getOptionValueSource('database');
  if (dirFrom !== 'cli') return;
  if (databaseFrom === 'cli') {
    cmd.error('error: --data-dir (SQLite) and --database (PostgreSQL) name two stores: give one of them', {
      exitCode: 2,
      code: 'homing.twoStores',
    });
  }
  cmd.setOptionValueWithSource('database', undefined, 'cli');
  stderr.write(
    `note: --data-dir on the command line wins over HOMING_DATABASE_URL: using SQLite in ${String(cmd.getOptionValue('dataDir'))}\n`,
  );
}
