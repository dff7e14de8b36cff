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
}

export interface StatsQuery {
  projectId: string;
  from: string;
  to: string;
  intervalSeconds: number;
}

export interface StatsBucket {
  /** ISO 8601 start of the bucket. */
  start: string;
  total: number;
  byEvent: Record<string, number>;
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

export interface Store {
  /** Apply pending schema migrations (versioned). Called once on start. */
  migrate(): Promise<void>;
  /** Resolves when storage answers; /readyz uses it. */
  ping(): Promise<void>;

  createProject(name: string): Promise<Project>;
  listProjects(): Promise<Project[]>;
  /**
   * The first project (lowest creation order), or a new one named `name` when there is none.
   * Atomic across every store on the same storage, other processes included: servers starting
   * at once on empty storage create one project between them and all answer it.
   */
  firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }>;
  /** Finds the project a key belongs to, comparing keys in constant time. */
  findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null>;

  /**
   * Store a batch atomically, once per (project, uuid). Resolves only after the data is
   * committed durably; rejects (and stores nothing) on a storage failure.
   */
  insertEvents(projectId: string, events: readonly IngestEvent[]): Promise<InsertResult>;

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
  stats(query: StatsQuery): Promise<StatsBucket[]>;

  close(): Promise<void>;
}
