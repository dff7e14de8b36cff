/** Slot numbers of the hold in the store's shared array (TURN_SLOTS in sqlite-write-turn.ts). */
export interface LogHoldSlots {
  readonly logHold: number;
  readonly logWriting: number;
}

/** What `checkpointLogWal` did: the WAL was small, or the last frames were checkpointed with
 * the store's writes held, or the store kept writing through the wait and the hold was let go. */
export type LogCheckpointOutcome = 'below' | 'held' | 'writer-busy';

/**
 * Checkpoints the ingest log file's WAL from the expander worker, off the store's event loop
 * (PASSIVE: it takes no lock the store's appends wait for). The store appends all the time, so
 * some write always followed a checkpoint, the WAL was never wholly in the file, and it never
 * started over: it grew to SQLite's autocheckpoint bound, and the autocheckpoint then ran on the
 * store thread, inside a commit (copying and two fsyncs: commits of 20-120 ms while every
 * request waited). So once the WAL is past `holdFrames`, the frames written during the first
 * checkpoint are checkpointed with the store's log writes held (`WriteTurn.logWrite` waits,
 * without blocking its event loop): then every frame is in the file, and the store's next
 * write starts the WAL from the top. A write already under way is waited for up to 50 ms; past
 * that the hold is let go and the WAL starts over another time.
 *
 * `hold` is `holdLogWrites` bound to the store's shared array. Refers to nothing outside its
 * body: the worker runs from source text and receives it as text.
 */
export function checkpointLogWal(
  logDb: { pragma(source: string): unknown },
  holdFrames: number,
  hold: (fn: () => void) => void | 'writer-busy',
): LogCheckpointOutcome {
  const first = (logDb.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0];
  if (first === undefined || first.log < holdFrames) return 'below';
  return hold(() => logDb.pragma('wal_checkpoint(PASSIVE)')) === 'writer-busy' ? 'writer-busy' : 'held';
}

/**
 * Runs `fn` on the worker with the store's log writes held (`checkpointLogWal` finishes its
 * checkpoint so): a write already under way is waited for up to 50 ms, else the hold is let go and
 * `fn` not run ('writer-busy': the caller tries again at another moment). Used for the idle
 * expander's work that takes the log file's write lock (sqlite-idle-shrink.ts): the store
 * appends and trims synchronously, so meeting that lock it would sleep in SQLite's busy
 * handler with its event loop blocked, where waiting for the hold it does not block. `fn`
 * must be short: the store writes anyway after `MAX_LOG_HOLD_WAIT_MS` (250 ms).
 *
 * Refers to nothing outside its body, like `checkpointLogWal`.
 */
export function holdLogWrites<T>(shared: Int32Array, slots: LogHoldSlots, fn: () => T): T | 'writer-busy' {
  Atomics.store(shared, slots.logHold, 1);
  try {
    const until = Date.now() + 50;
    while (Atomics.load(shared, slots.logWriting) !== 0 && Date.now() < until) {
      Atomics.wait(shared, slots.logWriting, 1, 10);
    }
    if (Atomics.load(shared, slots.logWriting) !== 0) return 'writer-busy';
    return fn();
  } finally {
    Atomics.store(shared, slots.logHold, 0);
    Atomics.notify(shared, slots.logHold);
  }
}
