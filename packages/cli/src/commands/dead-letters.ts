import { shellQuoted } from './shellQuoted.js';
import { terminalJson, terminalText } from '../terminalText.js';
import type { CommandIo, DeadLetter } from './outboxCommand.js';
import type { Outbox, OutboxInspector } from './outboxCommand.js';
import {
  CommandError,
  formatBytes,
  inspectOutbox,
  openOutbox,
  processIo,
  runCommand,
} from './outboxCommand.js';

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
  // Number() would read '0x3' as 3 and '1e1' as 10: only plain digits are a count.
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new CommandError(`--limit must be a whole number >= 1, got ${JSON.stringify(value)}`, undefined, 2);
  return n;
}

interface ReplayOutcome {
  replayed: number;
  /** Dead letters left where they were: the queue had no room for them. */
  kept: number;
  /** Queued events the outbox dropped while the replay ran (another process filled the queue). */
  dropped: number;
  /** Damaged dead letters (torn or corrupt on disk) cut where they were met: not replayable. */
  damaged: number;
  full: string | null;
}

/**
 * Moves back only the dead letters the queue has room for, oldest first. Under the app's
 * 'drop-oldest' policy a replay into a full queue would push out events still waiting to be
 * sent: trading events that can be delivered for ones refused before is never what was asked.
 */
async function replayWhatFits(
  outbox: Outbox,
  inspector: OutboxInspector,
  limit: number | undefined,
): Promise<ReplayOutcome> {
  const limits = await inspector.savedLimits();
  const size = await outbox.size();
  const letters = await outbox.listDeadLetters(limit);
  let events = size.events;
  let bytes = size.bytes;
  const chosen: string[] = [];
  for (const d of letters) {
    const jsonBytes = Buffer.byteLength(d.record.json);
    if (limits !== undefined && (events + 1 > limits.maxEvents || bytes + jsonBytes > limits.maxBytes)) break;
    chosen.push(d.record.uuid);
    events += 1;
    bytes += jsonBytes;
  }
  // What the queue holds once the chosen ones are back in it: the reason the rest did not fit.
  const full =
    chosen.length < letters.length && limits !== undefined
      ? `the queue holds ${events} events (${formatBytes(bytes)}) of at most ${limits.maxEvents} (${formatBytes(limits.maxBytes)})`
      : null;
  let dropped = 0;
  let damaged = 0;
  const stop = outbox.onDrop((drop) => {
    if (drop.reason === 'overflow') dropped += drop.count;
    else if (drop.reason === 'corrupt') damaged += drop.count;
  });
  try {
    const replayed = chosen.length === 0 ? 0 : await outbox.replayDeadLetters(chosen);
    return { replayed, kept: letters.length - replayed, dropped, damaged, full };
  } finally {
    stop();
  }
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
      const { outbox, directory, inspector } = await openOutbox(options.outbox);
      try {
        if (options.purge === true) {
          // --limit: the oldest n only.
          const count = await outbox.purgeDeadLetters(
            limit === undefined ? undefined : (await outbox.listDeadLetters(limit)).map((d) => d.record.uuid),
          );
          io.stdout.write(
            options.json === true
              ? `${terminalJson({ purged: count })}\n`
              : `Purged ${count} dead letters.\n`,
          );
          return 0;
        }
        const r = await replayWhatFits(outbox, inspector, limit);
        if (options.json === true) io.stdout.write(`${terminalJson(r)}\n`);
        else {
          io.stdout.write(
            `Moved ${r.replayed} ${r.replayed === 1 ? 'dead letter' : 'dead letters'} back to the queue.\n`,
          );
          if (r.kept > 0)
            io.stdout.write(
              `${r.kept} ${stayDeadLetters(r.kept)}: ${r.full ?? 'the queue did not take them'}. Send the queue first ` +
                `(homing flush --outbox ${terminalText(shellQuoted(directory))}), then replay again.\n`,
            );
          if (r.damaged > 0)
            io.stdout.write(
              `${r.damaged} damaged ${r.damaged === 1 ? 'record' : 'records'} (torn or corrupt on disk) ${r.damaged === 1 ? 'was' : 'were'} cut; they cannot be replayed.\n`,
            );
          if (r.dropped > 0)
            io.stdout.write(
              `${r.dropped} queued events were dropped meanwhile: another process filled the queue.\n`,
            );
          const left = limit === undefined ? 0 : (await outbox.size()).deadLetters - r.kept;
          if (left > 0) io.stdout.write(`${left} more ${stayDeadLetters(left)} (past --limit ${limit}).\n`);
          if (r.replayed > 0)
            io.stdout.write(
              `Send them now with: homing flush --outbox ${terminalText(shellQuoted(directory))}\n`,
            );
        }
        return r.kept > 0 || r.dropped > 0 ? 1 : 0;
      } finally {
        await outbox.close();
      }
    }
    // Listing only reads: nothing in the outbox changes.
    const { inspector } = await inspectOutbox(options.outbox);
    const rows = (await inspector.listDeadLetters(limit)).map(toRow);
    // Skipped by the list: said, so nobody takes the list for all there was before a replay or purge.
    const damage = await inspector.deadLetterDamage();
    if (damage.ranges > 0) {
      io.stderr.write(
        `warning: dead-letters.log has ${damage.ranges} damaged ${damage.ranges === 1 ? 'range' : 'ranges'} ` +
          `(${damage.bytes} bytes, torn or corrupt on disk), not listed: what they held cannot be read or replayed\n`,
      );
    }
    if (options.json === true) {
      io.stdout.write(`${terminalJson(rows, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('No dead letters.\n');
      return 0;
    }
    // The event's name and the endpoint's answer are the app's and the endpoint's words: one row
    // each, and nothing in them acts on the terminal.
    for (const r of rows) {
      const cells = [r.uuid, r.deadLetteredAt, r.event === null ? '(unreadable)' : r.event, r.reason];
      io.stdout.write(`${cells.map(terminalText).join('  ')}\n`);
    }
    // --limit shows the oldest few; the total says how many --replay or --purge would touch.
    const total = (await inspector.size()).deadLetters;
    const shown = rows.length < total ? `Showing the oldest ${rows.length} of ${total}` : `${total}`;
    io.stdout.write(`${shown} dead letters. Resend with --replay, discard with --purge.\n`);
    return 0;
  });
}

function stayDeadLetters(n: number): string {
  return n === 1 ? 'stays a dead letter' : 'stay dead letters';
}
