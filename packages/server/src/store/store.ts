/**
 * Storage behind the ingest server. One interface, two implementations side by side
 * (`sqlite.ts`, `postgres.ts`), both passing `store.contract.ts`.
 */

/** An event after normalisation at the server's edge, whatever wire format it came in. */
export interface IngestEvent {
  /** Client uuid, or one derived from a hash of the event's content when the client sent none. */
  uuid: string;
  event: string;
  distinctId: string;
  /** ISO 8601 after clock-skew correction. */
  timestamp: string;
  /** ISO 8601 as the client sent it, or null when it sent none. */
  originalTimestamp: string | null;
  /** ISO 8601, server clock. */
  receivedAt: string;
  properties: Record<string, unknown>;
  /**
   * ISO 8601: when the event happened by the client's clock (after the skew correction), set
   * where `timestamp` is the receive time instead because that was before the retention period.
   * Not stored: an erased person's suppression judges the event by it, so a late event of
   * theirs dated 1970 is not stored again for being stamped after the erasure.
   */
  clampedFrom?: string;
}

export interface StoredEvent extends Omit<IngestEvent, 'clampedFrom'> {
  projectId: string;
  /**
   * The event's place in its storage, growing with every event stored (SQLite's rowid,
   * PostgreSQL's seq). Events are ordered by (timestamp, seq); EventQuery.before pages on it.
   */
  seq: number;
}

/** Where a page of events ends: the timestamp (epoch ms) and seq of its last event. */
export interface EventPosition {
  tsMs: number;
  seq: number;
}

export interface Project {
  id: string;
  name: string;
  writeKey: string;
  adminKey: string;
  createdAt: string;
}

export type KeyRole = 'write' | 'admin';

/** Which of a project's keys `rotateProjectKeys` replaces. */
export interface KeysToRotate {
  write: boolean;
  admin: boolean;
}

/** What removing a project deletes (or, with `dryRun`, would delete), in rows. */
export interface ProjectRemoval {
  /** The project as it was. */
  project: Project;
  events: number;
  /** Entries of its erasure log. */
  erasures: number;
  /** Its suppression entries and erased keys (what kept its erased persons erased). */
  suppressions: number;
  erasedKeys: number;
  /**
   * Events acknowledged and not yet moved into the events table (SQLite's ingest log; 0 on
   * PostgreSQL): deleted from the log file, and never expanded.
   */
  pendingEvents: number;
}

export interface RemoveProjectOptions {
  /** Count what would be deleted; change nothing. */
  dryRun?: boolean;
  /** Called after each batch of events deleted: how many so far, of how many. */
  onProgress?: (deletedEvents: number, totalEvents: number) => void;
}

export interface InsertResult {
  /** Events newly stored. */
  accepted: number;
  /** Events whose (project, uuid) was already stored; nothing written for them. */
  duplicates: number;
  /**
   * Events not stored because their person was erased at or after their timestamp (see
   * suppressions.ts); not counted as accepted or duplicates.
   */
  erased: number;
}

export interface EventQuery {
  projectId: string;
  event?: string;
  distinctId?: string;
  /** ISO 8601 inclusive lower bound on timestamp. */
  since?: string;
  /** ISO 8601 exclusive upper bound on timestamp. */
  until?: string;
  /**
   * Only events after this position in the answer's order (newest first): an earlier timestamp,
   * or the same one and a lower seq. The last event of the previous page, so pages neither skip
   * nor repeat events, however many share a millisecond.
   */
  before?: EventPosition;
  /** 1..1000 */
  limit: number;
  /**
   * Called when the page stopped short of `limit` at `PAGE_PROPERTIES_CHARS`: more events may
   * follow it. Without the call, a page shorter than `limit` is the last.
   */
  onCut?: () => void;
}

/**
 * Characters of stored properties JSON after which a page of events (queryEvents) or of an
 * export (personEvents) stops, the event that reaches it included: a page of 1 000 events of
 * 1 MB each was past the longest string V8 makes (an answer of 500, having held the event loop
 * and 2 GB of memory for seconds).
 */
export const PAGE_PROPERTIES_CHARS = 8 * 1024 * 1024;

export interface StatsQuery {
  projectId: string;
  from: string;
  to: string;
  intervalSeconds: number;
  /**
   * Most event names the answer names, 1..1000 (the default): the names with the most events in
   * the range, ties in code point order of the name. The other names' events are counted in each
   * bucket's `other`. Anyone with the write key can make up names, so the answer has a bound.
   */
  maxEvents?: number;
}

export interface StatsBucket {
  /** ISO 8601 start of the bucket. */
  start: string;
  total: number;
  /** Counts of the names the answer names (see StatsQuery.maxEvents) that occur in the bucket. */
  byEvent: Record<string, number>;
  /** Events of the names left out of `byEvent` over the range. */
  other: number;
}

export interface StatsResult {
  /** Every bucket from `from` to `to`, empty ones included. */
  buckets: StatsBucket[];
  /** How many names over the range were left out of `byEvent` (their events are in `other`). */
  otherNames: number;
}

export interface ErasureRecord {
  /** Position in the log: grows with every erasure of the storage; pages resume below it. */
  seq: number;
  projectId: string;
  distinctId: string;
  requestedBy: string;
  deletedCount: number;
  erasedAt: string;
}

export interface ErasureQuery {
  projectId: string;
  /** 1..100 000 entries, newest first. */
  limit: number;
  /** Only entries older than the one with this `seq` (the next page); absent: from the newest. */
  beforeSeq?: number;
}

/** How an insertEvents call may end early. */
export interface InsertOptions {
  /**
   * Aborted when the caller no longer wants the answer (its client went away): a call still
   * waiting to be committed is then dropped (rejected, nothing written). Once committed it stays
   * committed; a resend is deduplicated by its uuids. SQLite only; PostgreSQL ignores it.
   */
  signal?: AbortSignal;
}

export interface Store {
  /** Apply pending schema migrations (versioned). Called once on start. */
  migrate(): Promise<void>;
  /** Resolves when storage answers; /readyz uses it. */
  ping(): Promise<void>;

  createProject(name: string): Promise<Project>;
  /** The projects in creation order; a project whose removal began is not among them. */
  listProjects(): Promise<Project[]>;
  /**
   * The first project (lowest creation order), or a new one named `name` when there is none.
   * Atomic across every store on the same storage, other processes included: servers starting
   * at once on empty storage create one project between them and all answer it.
   */
  firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }>;
  /**
   * Finds the project a key belongs to, comparing keys in constant time. A removed project's
   * keys, and keys replaced by `rotateProjectKeys`, find nothing.
   */
  findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null>;
  /**
   * Replaces the project's write key, admin key or both with new random ones; from the commit
   * on, the old ones find nothing. Resolves the project with its keys; `unknown-project` when
   * there is no such project (or it was removed).
   */
  rotateProjectKeys(projectId: string, which: KeysToRotate): Promise<Project>;
  /**
   * Removes a project for good. First marks it removed (one commit): its keys find nothing, it
   * is no longer listed, and nothing more of it is stored, by this store or any other on the
   * same storage (events still arriving through a key another process has cached are dropped;
   * see the implementations). Then deletes its events, erasure log, suppression entries and
   * erased keys (and, on SQLite, its events still in the ingest log) in bounded transactions
   * that leave room for ingest between them, and last the project itself. A removal that was
   * interrupted is finished by calling this again with the project's id. `unknown-project`
   * when there is no such project.
   */
  removeProject(projectId: string, options?: RemoveProjectOptions): Promise<ProjectRemoval>;
  /**
   * A number that changes whenever a project's keys change through a store on this storage
   * (creation, rotation, removal), in any process: key caches look at it (cheaply, every
   * second at most) to forget keys that stopped working without waiting for their expiry.
   */
  keysVersion(): Promise<number>;

  /**
   * Store a batch atomically, once per (project, uuid). Resolves only after the data is
   * committed durably; rejects (and stores nothing) on a storage failure.
   */
  insertEvents(
    projectId: string,
    events: readonly IngestEvent[],
    options?: InsertOptions,
  ): Promise<InsertResult>;

  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /** Every event of one person, oldest first, streamed (export can be large). */
  personEvents(projectId: string, distinctId: string): AsyncIterable<StoredEvent>;
  /**
   * Delete every event of one person and log the erasure (who, when, how many; not the data).
   * First records a suppression entry (a hash of the person, the erasure time) that keeps the
   * person's events timestamped up to then from being stored again when they arrive late.
   */
  erasePerson(projectId: string, distinctId: string, requestedBy: string): Promise<number>;
  /** One page of the project's erasure log, newest first. */
  listErasures(query: ErasureQuery): Promise<ErasureRecord[]>;
  /** Delete up to `limit` events with timestamp before `cutoff`; resolves how many. */
  deleteEventsBefore(cutoff: string, limit: number): Promise<number>;
  /** Counts per bucket and per event name, at most `maxEvents` names named. */
  stats(query: StatsQuery): Promise<StatsResult>;

  close(): Promise<void>;
}
