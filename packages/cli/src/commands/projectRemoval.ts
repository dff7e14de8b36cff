import type { ProjectRemoval, Store } from '@homing/server';
import { StoreError } from '@homing/server';
import { terminalJson, terminalText } from '../terminalText.js';
import type { CommandIo } from './outboxCommand.js';
import { CommandError, processIo, runCommand } from './outboxCommand.js';
import { findProject, NoSuchProject, withStore, type StoreLocation } from './projectsStore.js';

export interface RemoveProjectOptions extends StoreLocation {
  /** Without it nothing is removed: the command says what removing would delete. */
  yes?: boolean;
}

/** "120 345 events, 3 erasure log entries, …": what a removal deletes, in words. */
export function describeRemoval(r: ProjectRemoval): string {
  const parts = [
    plural(r.events, 'event'),
    plural(r.erasures, 'erasure log entry', 'erasure log entries'),
    plural(r.suppressions, 'suppression entry', 'suppression entries'),
    plural(r.erasedKeys, 'erased key'),
  ];
  if (r.pendingEvents > 0)
    parts.push(`${plural(r.pendingEvents, 'event')} not yet stored from the ingest log`);
  return parts.join(', ');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US').replace(/,/g, ' ')} ${n === 1 ? one : many}`;
}

/**
 * Removes a project for good (`--yes`; without it, says what would be deleted and removes
 * nothing): its keys stop working, nothing more of it is stored, and its events, erasure log,
 * suppression entries and erased keys are deleted in small transactions, with progress on
 * stderr, beside a running server. Prints what was deleted as JSON. A removal cut short (Ctrl-C)
 * is finished by running the command again with the project's id.
 */
export async function removeProjectCommand(
  given: string,
  options: RemoveProjectOptions,
  io: CommandIo = processIo,
): Promise<number> {
  return runCommand(io, async () => {
    const removal = await withStore(
      options,
      true,
      async (s) => {
        const id = await removalTarget(s, given);
        const planned = await s.removeProject(id, { dryRun: true });
        const name = `"${terminalText(planned.project.name)}" (${planned.project.id})`;
        if (options.yes !== true) {
          io.stderr.write(
            `Removing project ${name} deletes ${describeRemoval(planned)} for good, and its keys stop working.\n`,
          );
          throw new CommandError(
            'nothing was removed',
            `run it again with --yes to remove ${planned.project.id}`,
            2,
          );
        }
        io.stderr.write(
          `Removing project ${name}: its keys no longer work and nothing more of it is stored; ` +
            `deleting ${describeRemoval(planned)}. Cut short, it is finished by running this again ` +
            `with the id.\n`,
        );
        const progress = new DeletionProgress(io);
        try {
          return await s.removeProject(id, { onProgress: (done, total) => progress.show(done, total) });
        } finally {
          progress.end();
        }
        // Not run again on a busy answer: it commits in many steps (see StoreBusyHandling.retry).
      },
      { retry: false },
    );
    io.stdout.write(
      `${terminalJson(
        {
          id: removal.project.id,
          name: removal.project.name,
          deleted: {
            events: removal.events,
            erasures: removal.erasures,
            suppressions: removal.suppressions,
            erasedKeys: removal.erasedKeys,
            pendingEvents: removal.pendingEvents,
          },
        },
        2,
      )}\n`,
    );
    io.stderr.write(
      `Removed project "${terminalText(removal.project.name)}" (${removal.project.id}): ${describeRemoval(removal)} deleted. ` +
        'A running homing serve refuses its write key within about a second.\n',
    );
    return 0;
  });
}

/**
 * The id of the project `given` names; also, by its id, a project whose removal began and was
 * cut short (no longer listed, so found by the removal itself).
 */
async function removalTarget(store: Store, given: string): Promise<string> {
  try {
    return (await findProject(store, given)).id;
  } catch (err) {
    if (!(err instanceof NoSuchProject)) throw err;
    const unfinished = await store.removeProject(given, { dryRun: true }).catch((e: unknown) => {
      if (e instanceof StoreError && e.kind === 'unknown-project') return null;
      throw e;
    });
    if (unfinished === null) throw err;
    return unfinished.project.id;
  }
}

const BAR_WIDTH = 30;
/** Lines of progress when stderr is not a terminal (a log): at most one this often, ms. */
const PLAIN_LINE_MS = 1000;

/**
 * Events deleted so far, on stderr: a bar redrawn in place on a TTY; otherwise a line at most
 * every second (a removal of millions of events would write thousands of lines to a log), and the
 * last one in any case.
 */
class DeletionProgress {
  private drew = false;
  private lastLineAt = -Infinity;
  /** The line the throttle held back, written at the end. */
  private heldBack: string | null = null;

  constructor(private readonly io: CommandIo) {}

  show(done: number, total: number): void {
    if (this.io.stderr.isTTY === true) {
      const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      this.io.stderr.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(pct).padStart(3)}% ${done}/${total} events deleted`,
      );
      this.drew = true;
      return;
    }
    const line = `remove: ${done}/${total} events deleted\n`;
    const now = Date.now();
    if (now - this.lastLineAt < PLAIN_LINE_MS) {
      this.heldBack = line;
      return;
    }
    this.lastLineAt = now;
    this.heldBack = null;
    this.io.stderr.write(line);
  }

  end(): void {
    if (this.drew) this.io.stderr.write('\n');
    if (this.heldBack !== null) this.io.stderr.write(this.heldBack);
  }
}
