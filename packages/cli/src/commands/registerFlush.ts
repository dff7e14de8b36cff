import type { Command } from 'commander';
import type { FlushOptions } from './flush.js';
import { loadCommand } from './loadCommand.js';

export function registerFlush(program: Command): void {
  program
    .command('flush')
    .description('Send what is queued in an outbox now')
    .requiredOption('--outbox <dir>', 'the outbox directory')
    .option('--destination <name>', 'with --host: homing (default), posthog or segment')
    .option(
      '--host <url>',
      'base URL of the destination, e.g. https://homing.example.com (default: where the app sends, saved in the outbox)',
    )
    .option(
      '--key <key>',
      'with --host: write key (Homing), project API key (PostHog) or write key (Segment)',
    )
    .option(
      '--timeout <ms>',
      'give up after this long, waiting for another process delivering from the outbox included (events stay queued)',
      '30000',
    )
    .option(
      '--force',
      'try now even if the endpoint circuit is open from earlier failures or the endpoint asked to be left alone (Retry-After)',
    )
    .action(async (options: FlushOptions) => {
      // Loaded when the command runs, not for `homing --help` (see registerServe.ts).
      const { flush } = await loadCommand('flush', () => import('./flush.js'));
      process.exitCode = await flush(options);
    });
}
