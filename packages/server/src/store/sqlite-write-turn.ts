/** Slots of the shared Int32Array the store and its expander worker coordinate through. */
export const TURN_SLOTS = {
  /** Who holds the write turn: 0 nobody, 1 the ingest thread, 2 the expander worker. */
  holder: 0,
  /** 1 while the ingest thread waits for the turn: the worker lets it go first. */
  ingestWaiting: 1,
  /** Bumped to wake an idle worker (new log rows, a catch-up request, stop). */
  wake: 2,
  /** 1 while the worker asks the ingest thread to hold its log-file writes (see `logWrite`). */
  logHold: 3,
  /** 1 while the ingest thread writes the log file. */
  logWriting: 4,
} as const;

/** Longest a log write waits for the worker's hold; the hold itself lasts a checkpoint of a few MB. */
const MAX_LOG_HOLD_WAIT_MS = 250;

const FREE = 0;
const INGEST = 1;
const WORKER = 2;

/**
 * The store thread's side of the write turn it shares with the expander worker on homing.db
 * (each with its own connection). SQLite would serialise the two writers anyway, but its busy
 * handler sleeps in growing steps, synchronously, and a worker committing chunk after chunk
 * could starve it. With the turn the store thread's writes (projects, erasure, retention,
 * migrations; ingest commits go to the log file and need no turn) wait without blocking the
 * event loop (`take`), exactly as long as the worker's current chunk, and the worker gives way
 * before starting the next one. Other processes on the same file still meet SQLite's
 * busy_timeout.
 */
export class WriteTurn {
  readonly shared = new Int32Array(new SharedArrayBuffer(8 * Int32Array.BYTES_PER_ELEMENT));
  /** This thread's `runAsync` callers, one at a time (see there); null when none waits or runs. */
  private localTail: Promise<void> | null = null;

  /** Takes the turn if nobody holds it. */
  tryTake(): boolean {
    return Atomics.compareExchange(this.shared, TURN_SLOTS.holder, FREE, INGEST) === FREE;
  }

  /** Waits for the turn without blocking the event loop (the worker's chunk in progress). */
  async take(): Promise<void> {
    while (!this.tryTake()) {
      Atomics.store(this.shared, TURN_SLOTS.ingestWaiting, 1);
      const w = waitAsync(this.shared, TURN_SLOTS.holder, WORKER, 1000);
      if (w.async) await w.value;
      // Held by this thread (not the worker): waitAsync answers at once, and looping on without
      // a turn of the event loop would keep the holder from ever running to release it.
      else await new Promise((resolve) => setImmediate(resolve));
    }
    this.noLongerWaiting();
  }

  release(): void {
    Atomics.store(this.shared, TURN_SLOTS.holder, FREE);
    Atomics.notify(this.shared, TURN_SLOTS.holder);
  }

  /**
   * Runs `fn` holding the turn, waiting for it without blocking the event loop. Callers on this
   * thread queue here, in order: the turn is one per thread, so a second caller that met it held
   * by the first (between its take and its fn) spun in `take` without ever awaiting, and the
   * first never ran to release it. Two erasures at once hung the server for good.
   */
  async runAsync<T>(fn: () => T): Promise<T> {
    const before = this.localTail;
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.localTail = mine;
    try {
      if (before !== null) await before;
      if (!this.tryTake()) await this.take();
      try {
        return fn();
      } finally {
        this.release();
      }
    } finally {
      if (this.localTail === mine) this.localTail = null;
      done();
    }
  }

  /**
   * Runs `fn` (a write to the ingest log file) unless the worker is holding log writes, else
   * after it lets go, waiting without blocking the event loop. The worker holds them for a
   * moment to finish a checkpoint of the log file's WAL with no write after it, so that the
   * next write starts the WAL over: under steady ingest some write always followed its
   * checkpoints, the WAL only grew, and SQLite's autocheckpoint then ran on this thread, inside
   * a commit (copying and two fsyncs: commits of 20-120 ms, every request waiting). Advisory:
   * a write that slips past the hold is still correct, the WAL only starts over later.
   */
  async logWrite<T>(fn: () => T): Promise<T> {
    const giveUpAt = Date.now() + MAX_LOG_HOLD_WAIT_MS;
    for (;;) {
      Atomics.store(this.shared, TURN_SLOTS.logWriting, 1);
      if (Atomics.load(this.shared, TURN_SLOTS.logHold) === 0) break;
      // A worker that died holding them must not stop ingest: past the bound, write anyway.
      const left = giveUpAt - Date.now();
      if (left <= 0) break;
      this.logWriteDone();
      const w = waitAsync(this.shared, TURN_SLOTS.logHold, 1, left);
      if (w.async) await w.value;
    }
    try {
      return fn();
    } finally {
      this.logWriteDone();
    }
  }

  private logWriteDone(): void {
    Atomics.store(this.shared, TURN_SLOTS.logWriting, 0);
    Atomics.notify(this.shared, TURN_SLOTS.logWriting);
  }

  /** Wakes the worker if it idles; answers the wake counter's new value. */
  wake(): number {
    const n = Atomics.add(this.shared, TURN_SLOTS.wake, 1) + 1;
    Atomics.notify(this.shared, TURN_SLOTS.wake);
    return n;
  }

  private noLongerWaiting(): void {
    if (Atomics.exchange(this.shared, TURN_SLOTS.ingestWaiting, 0) !== 0) {
      Atomics.notify(this.shared, TURN_SLOTS.ingestWaiting);
    }
  }
}

// In Node since 16; TypeScript declares it only from lib es2024.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeoutMs: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;
