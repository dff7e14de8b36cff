import { OutboxIoError } from '../errors.js';
import type { OutboxDatabase } from './schema.js';
import { openOutboxDatabase } from './schema.js';

/** How often, at most, a tab opens again a database another tab deleted or upgraded, ms. */
const REOPEN_INTERVAL_MS = 1000;

export interface OutboxConnectionOptions {
  readonly factory: IDBFactory;
  /** The outbox name (the database is `databaseName(name)`). */
  readonly name: string;
  /** Whether the outbox is closed: late writes then get a short-lived connection of their own. */
  readonly closed: () => boolean;
  /** The database was opened again after another tab took it away: a new, empty one. */
  readonly reopened: () => void;
}

/**
 * The IndexedDB outbox's connection to its database, opened at construction. Another tab may
 * take it away (deleting or upgrading the database); the next operation then opens it again, at
 * most once a second.
 */
export class OutboxConnection {
  /** Resolves once the database is open; rejects (OutboxIoError) when it cannot be opened. */
  readonly opened: Promise<void>;
  /** Whether the first open failed (or was given up on): `opened` rejected. */
  openFailed = false;
  private db: OutboxDatabase | undefined;
  private lostReason: unknown;
  /** Opening the database again after another tab took it away (see `database`). */
  private reopening: Promise<void> | null = null;
  private reopenedAtMs = 0;

  constructor(private readonly options: OutboxConnectionOptions) {
    this.opened = this.open();
    // Every operation that needs the database reports a failed open; keep this one quiet.
    this.opened.catch(() => {
      this.openFailed = true;
    });
  }

  /** The connection open now, if any. */
  get current(): OutboxDatabase | undefined {
    return this.db;
  }

  /** The database for `operation` (named in its OutboxIoError when there is none). */
  async database(operation: string): Promise<OutboxDatabase> {
    try {
      await this.opened;
    } catch (error) {
      throw new OutboxIoError(operation, { cause: (error as OutboxIoError).cause ?? error });
    }
    if (this.db !== undefined) return this.db;
    // Closed (late appends): a short-lived connection of its own, closed after the write.
    if (this.options.closed())
      return openOutboxDatabase(this.options.factory, this.options.name, () => undefined);
    // Lost to another tab (deleted, or upgraded by a newer version): open it again, at most once
    // a second. A deleted database comes back empty and this tab goes on delivering; one at a
    // version this code cannot open stays an error.
    const nowMs = Date.now();
    if (nowMs - this.reopenedAtMs >= REOPEN_INTERVAL_MS) {
      this.reopenedAtMs = nowMs;
      this.reopening ??= this.open()
        .then(() => {
          // A new database: what was claimed or kept in memory named records of the old one.
          this.options.reopened();
        })
        .finally(() => {
          this.reopening = null;
        });
      try {
        await this.reopening;
      } catch (error) {
        this.lostReason = (error as OutboxIoError).cause ?? error;
      }
      if (this.db !== undefined) return this.db;
    }
    throw new OutboxIoError(operation, { cause: this.lostReason });
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  private async open(): Promise<void> {
    try {
      this.db = await openOutboxDatabase(this.options.factory, this.options.name, () => {
        // Another tab deletes or upgrades the database: this connection is gone.
        this.db = undefined;
        this.lostReason = new Error('the database was closed by another connection (deleted or upgraded)');
      });
    } catch (error) {
      throw new OutboxIoError('open', { cause: error });
    }
  }
}

/** Runs one database operation; a failure that is not an OutboxIoError yet becomes one naming `operation`. */
export async function io<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OutboxIoError) throw error;
    throw new OutboxIoError(operation, { cause: error });
  }
}
