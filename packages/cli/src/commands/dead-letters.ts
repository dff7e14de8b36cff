import type { Command } from 'commander';
import type { CommandIo, DeadLetter } from './outboxCommand.js';
import { CommandError, inspectOutbox, openOutbox, processIo, runCommand } from './outboxCommand.js';

export interface DeadLettersOptions {
  outbox: string;
  replay?: boolean;
  purge?: boolean;
  json?: boolean;
  limit?: string | number;
}

interface Row {
  uuid: string;
  event: string | null;
  deadLetteredAt: string;
  reason: string;
}

function toRow(d: DeadLetter): Row {
  let event: string | null = null;
  try {
    const parsed = JSON.parse(d.record.json) as { event?: unknown };
    if (typeof parsed.event === 'string') event = parsed.event;
  } catch {
    // A record that is not JSON is still listed: its uuid and reason are what matter.
  }
  return {
    uuid: d.record.uuid,
    event,
    deadLetteredAt: new Date(d.deadLetteredAtMs).toISOString(),
    reason: d.reason,
  };
}

function parseLimit(value: DeadLettersOptions['limit']): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CommandError(`--limit must be a whole number >= 1, got ${String(value)}`, undefined, 2);
  return n;
}

/** Lists dead letters, or moves them back to the queue (--replay), or throws them away (--purge). */
export async function deadLetters(options: DeadLettersOptions, io: CommandIo = processIo): Promise<number> {
  return runCommand(io, async () => {
    if (options.replay === true && options.purge === true) {
      throw new CommandError(
        '--replay and --purge cannot be used together',
        'Replay to resend them; purge to throw them away.',
        2,
      );
    }
    const limit = parseLimit(options.limit);
    if (options.replay === true || options.purge === true) {
      const { outbox, directory } = await openOutbox(options.outbox);
      try {
        const replay = options.replay === true;
        const count = replay ? await outbox.replayDeadLetters() : await outbox.purgeDeadLetters();
        if (options.json === true)
          io.stdout.write(`${JSON.stringify(replay ? { replayed: count } : { purged: count })}\n`);
        else if (replay) {
          io.stdout.write(`Moved ${count} dead letters back to the queue.\n`);
          if (count > 0)
            io.stdout.write(`Send them now with: homing flush --outbox ${directory} --host URL --key KEY\n`);
        } else io.stdout.write(`Purged ${count} dead letters.\n`);
        return 0;
      } finally {
        await outbox.close();
      }
    }
    // Listing only reads: nothing in the outbox changes.
    const { inspector } = await inspectOutbox(options.outbox);
    const rows = (await inspector.listDeadLetters(limit)).map(toRow);
    if (options.json === true) {
      io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('No dead letters.\n');
      return 0;
    }
    for (const r of rows)
      io.stdout.write(`${r.uuid}  ${r.deadLetteredAt}  ${r.event ?? '(unreadable)'}  ${r.reason}\n`);
    io.stdout.write(`${rows.length} dead letters. Resend with --replay, discard with --purge.\n`);
    return 0;
  });
}

export function registerDeadLetters(program: Command): void {
  program
    .command('dead-letters')
    .description(
      'List the events an endpoint refused for good; --replay queues them again, --purge discards them',
    )
    .requiredOption('--outbox <dir>', 'the outbox directory')
    .option('--replay', 'move every dead letter back to the queue')
    .option('--purge', 'throw every dead letter away')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'list at most n')
    .action(async (options: DeadLettersOptions) => {
      process.exitCode = await deadLetters(options);
    });
}
