import type { Command } from 'commander';
import type { StatusOptions } from './status.js';
import { loadCommand } from './loadCommand.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Show an outbox: queued events, oldest event age, dead letters, breaker state per endpoint')
    .requiredOption('--outbox <dir>', 'the outbox directory')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: StatusOptions) => {
      // Loaded when the command runs, not for `homing --help` (see registerServe.ts).
      const { status } = await loadCommand('status', () => import('./status.js'));
      process.exitCode = await status(options);
    });
}
