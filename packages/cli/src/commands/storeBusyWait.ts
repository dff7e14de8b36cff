import { StoreError } from '@homing/server';
import { CommandError } from './commandError.js';

/**
 * How a projects command waits out homing.db's write lock held by another process. A running
 * `homing serve` takes that lock again and again while it moves events from its ingest log into
 * the events table, and SQLite's own busy wait (5 s) kept missing the moments between: a create
 * beside a busy server failed after ~10 s. Tries again, pausing longer each time, for `budgetMs`.
 */
export interface BusyWait {
  /** How long to keep trying, ms, counted from the first try. */
  budgetMs: number;
  /** First pause between tries, ms; doubled after each, up to `maxPauseMs`. */
  firstPauseMs: number;
  maxPauseMs: number;
}

export const BUSY_WAIT_DEFAULTS: BusyWait = { budgetMs: 45_000, firstPauseMs: 250, maxPauseMs: 2_000 };

/**
 * SQLite's busy answer (a StoreError whose cause is SQLITE_BUSY or SQLITE_LOCKED): another
 * connection held the lock past the store's busy timeout. Nothing of the call was written.
 */
export function isStoreBusy(err: unknown): boolean {
  if (!(err instanceof StoreError) || err.kind !== 'storage') return false;
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** homing.db stayed locked by another process for the whole budget: nothing was changed. */
export class StoreStayedBusy extends CommandError {
  constructor(dataDir: string, waitedMs: number) {
    super(
      `the database in ${dataDir} stayed locked by another process for ${Math.round(waitedMs / 1000)} s, ` +
        'most likely a running "homing serve" busy writing events into it; nothing was changed',
      'try again in a moment (a server is busiest just after a burst of events, or when it starts with a backlog), ' +
        'or stop the server, run this, and start it again',
    );
  }
}

/**
 * Runs `attempt` until it does not answer busy, pausing between tries, for `wait.budgetMs`:
 * `onWaiting` is called once, at the first busy answer. Past the budget, StoreStayedBusy.
 */
export async function retryWhileBusy<T>(
  attempt: () => Promise<T>,
  dataDir: string,
  wait: BusyWait,
  onWaiting: () => void,
): Promise<T> {
  const startedMs = performance.now();
  let pauseMs = wait.firstPauseMs;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isStoreBusy(err)) throw err;
      const now = performance.now();
      if (tries === 1) onWaiting();
      const left = startedMs + wait.budgetMs - now;
      if (left <= 0) throw new StoreStayedBusy(dataDir, now - startedMs);
      await new Promise((r) => setTimeout(r, Math.min(pauseMs, left)));
      pauseMs = Math.min(pauseMs * 2, wait.maxPauseMs);
    }
  }
}
