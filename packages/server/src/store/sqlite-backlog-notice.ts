import type Database from 'better-sqlite3';

/** Something an operator should read in the server's log (the store logs nothing itself). */
export interface StoreNotice {
  level: 'info' | 'warn' | 'error';
  message: string;
  /** Numbers and names for the log line's fields (never event content). */
  fields: Record<string, number | string>;
}

/** How often a backlog still draining is reported, ms. */
export const BACKLOG_PROGRESS_MS = 10_000;

/**
 * Tells the log about a backlog an earlier run left in the ingest log (a crash, a SIGKILL, a
 * close out of budget): once at start with how many events, every `BACKLOG_PROGRESS_MS` while
 * it drains, and once when it is expanded. Meanwhile the server is ready and acknowledges
 * ingest, but every read waits until the backlog is expanded (read-your-writes): a restart
 * after a SIGKILL with 642 000 events waiting answered its first query after 21.8 s with
 * nothing in the log to say why.
 */
export class BacklogNotice {
  private upToId = 0;
  private total = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly notify: (notice: StoreNotice) => void,
    /** Events of the start's backlog not yet expanded (log rows with ids in (expanded, upTo]). */
    private readonly left: (upToId: number) => number,
    private readonly everyMs = BACKLOG_PROGRESS_MS,
  ) {}

  /** At start: `events` events in log rows up to `upToId` wait to be expanded. */
  start(events: number, upToId: number): void {
    if (events <= 0 || upToId <= 0) return;
    this.upToId = upToId;
    this.total = events;
    this.startedAt = Date.now();
    this.notify({
      level: 'warn',
      message:
        'the ingest log holds events an earlier run left unexpanded; expanding them now. Ingest is ' +
        'acknowledged meanwhile; queries, exports and stats wait until they are expanded',
      fields: { events },
    });
    this.timer = setInterval(() => this.progress(), this.everyMs);
    this.timer.unref();
  }

  /** The expander moved every log row with id ≤ lastId into `events`. */
  onExpanded(lastId: number): void {
    if (this.timer === null || lastId < this.upToId) return;
    this.stop();
    this.notify({
      level: 'info',
      message: 'the ingest log backlog from the earlier run is expanded; queries no longer wait for it',
      fields: { events: this.total, seconds: Math.round((Date.now() - this.startedAt) / 1000) },
    });
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private progress(): void {
    let left: number;
    try {
      left = this.left(this.upToId);
    } catch {
      return; // a look that failed says nothing; the next one may not
    }
    this.notify({
      level: 'info',
      message: 'still expanding the ingest log backlog from the earlier run; queries wait until it is done',
      fields: {
        eventsLeft: left,
        events: this.total,
        seconds: Math.round((Date.now() - this.startedAt) / 1000),
      },
    });
  }
}

/**
 * Events in log rows past homing.db's expanded id, up to `upToId` (all of them by default), and
 * the newest such row's id. `n` comes before the payload in each row: the sum reads no overflow page.
 */
export function unexpandedEvents(
  db: Database.Database,
  logDb: Database.Database,
  upToId = Number.MAX_SAFE_INTEGER,
): { events: number; upToId: number } {
  const through = (db.prepare('SELECT expanded_through FROM ingest_progress WHERE id = 1').pluck().get() ??
    0) as number;
  const r = logDb
    .prepare(
      'SELECT coalesce(sum(n), 0) AS events, coalesce(max(id), 0) AS upToId FROM ingest_log WHERE id > ? AND id <= ?',
    )
    .get(through, upToId) as { events: number; upToId: number };
  return r;
}
