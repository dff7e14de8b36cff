import type { Command } from 'commander';
import type { DeadLettersOptions } from './dead-letters.js';
import { loadCommand } from './loadCommand.js';

export function registerDeadLetters(program: Command): void {
  program
    .command('dead-letters')
    .description(
      'List the events an endpoint refused for good; --replay queues them again, --purge discards them',
    )
    .requiredOption('--outbox <dir>', 'the outbox directory')
    .option('--replay', 'move the dead letters back to the queue (the oldest n with --limit)')
    .option('--purge', 'throw the dead letters away (the oldest n with --limit)')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'list, replay or purge at most n, oldest first')
    .action(async (options: DeadLettersOptions) => {
      // Loaded when the command runs, not for `homing --help` (see registerServe.ts).
      const { deadLetters } = await loadCommand('dead-letters', () => import('./dead-letters.js'));
      process.exitCode = await deadLetters(options);
    });
}
