/**
 * The durable queue between `track()` and delivery. One interface, one file per storage
 * (memory, file log, IndexedDB, localStorage); every implementation passes the contract
 * suite in `outbox.contract.ts`.
 *
 * Records hold the event already serialised: the pipeline serialises once (that is where
 * cycles, BigInt and size limits are dealt with), storage writes those bytes, and delivery
 * builds a batch body by joining them. Nothing re-serialises on the way.
 */
export interface OutboxRecord {
  /** The event's uuid (UUIDv7). Unique within an outbox. */
  readonly uuid: string;
  /** `JSON.stringify` of the HomingEvent. */
  readonly json: string;
  /** Event time in ms since the epoch; retention and "oldest event age" use it. */
  readonly timestampMs: number;
}

/** A set of records claimed for one delivery attempt; nobody else may claim them until ack/release. */
export interface OutboxBatch {
  readonly records: readonly OutboxRecord[];
  /** UTF-8 byte length of all `json` strings together. */
  readonly bytes: number;
}

/**
 * Why records left the outbox without being sent. `unsaved`: still only in memory when the outbox
 * closed (a memory outbox's queue, a file outbox whose last write failed): gone with the process.
 */
export type DropReason =
  'overflow' | 'retention' | 'consent' | 'corrupt' | 'dead-lettered' | 'too-large' | 'unsaved';

export interface OutboxDrop {
  readonly reason: DropReason;
  readonly count: number;
  /** Bytes dropped, when known (e.g. what a corrupt file region held). Optional. */
  readonly bytes?: number;
}

export interface DeadLetter {
  readonly record: OutboxRecord;
  /** Why delivery gave up, e.g. "HTTP 400: invalid api key". */
  readonly reason: string;
  readonly deadLetteredAtMs: number;
}

export interface OutboxSize {
  readonly events: number;
  readonly bytes: number;
  /** Timestamp (ms) of the oldest pending record, or null when empty. */
  readonly oldestTimestampMs: number | null;
  readonly deadLetters: number;
}

export type OutboxDurability = 'memory' | 'batch' | 'fsync';

export interface OutboxLimits {
  /** Most pending events kept; default 100 000. */
  maxEvents: number;
  /** Most pending bytes kept; default 64 MiB. */
  maxBytes: number;
  /** What to drop when full; default 'oldest'. */
  overflow: 'drop-oldest' | 'drop-newest';
  /** Pending events older than this are dropped (reason 'retention'); default 7 days. 0 disables. */
  retentionMs: number;
  /** Dead letters kept at most; default 10 000 (oldest dropped first, counted 'overflow'). */
  maxDeadLetters: number;
  /**
   * Bytes of dead letters kept at most, as stored (the file outbox: its dead-letters file; the
   * memory, localStorage and IndexedDB outboxes: the events' JSON and reasons, UTF-8); default
   * 16 MiB (oldest dropped first, counted 'overflow').
   */
  maxDeadLetterBytes: number;
}

export interface Outbox {
  /**
   * Queue records. Synchronous and never throws: storage I/O happens later (grouped), per the
   * outbox's durability. Records over the limits cause drops, reported through `onDrop`.
   */
  append(records: readonly OutboxRecord[]): void;

  /**
   * Claim up to `maxEvents` / `maxBytes` of the oldest pending records that no one else
   * (no other batch of this process, no other process sharing the storage) has claimed.
   * Resolves null when there is nothing to claim. Always returns at least one record
   * when any is pending, even if that one record is larger than `maxBytes`.
   */
  claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null>;
  /**
   * Optional; every browser outbox has it (the Node file outbox does not need it). A claim
   * answered synchronously, for the send made when a page goes away: after `pagehide` a page
   * runs nothing that waits on storage, so the request must be built and issued inside the
   * event handler. Takes the oldest records the outbox holds in memory and has not claimed
   * (records appended and not yet written first: those are the ones a page leaving would lose),
   * at most `maxEvents`, and only what fits in `maxBytes` together: a record larger than that
   * alone is skipped (it waits for `claim`), and the claim stops at the first record that no
   * longer fits. Null when nothing in memory can be claimed. Records held only in storage (from
   * an earlier page load, another tab) are not in memory and wait for `claim`.
   *
   * The batch is acked, released or dead-lettered like any other. Across tabs it does not wait
   * for the delivery lock: a record another tab is sending at that moment can go out twice,
   * which the server's dedup by uuid absorbs.
   */
  claimInMemory?(maxEvents: number, maxBytes: number): OutboxBatch | null;
  /**
   * Optional, beside `claimInMemory`: the records of the batches claimed now and not yet acked,
   * released or dead-lettered, oldest first, changing nothing. A page going away aborts the
   * sends in flight, so the unload send carries these too when there is room; if such a send
   * got through after all, the server drops the duplicate by uuid.
   */
  inFlight?(): OutboxRecord[];
  /**
   * Delivered: remove for good. Like appends, an ack may reach storage a little later (per the
   * outbox's durability); once `persist()` resolves it is stored. A crash before that only sends
   * the batch again (the uuid dedups it).
   */
  ack(batch: OutboxBatch): Promise<void>;
  /** Not delivered this time: make the records claimable again, in their original order. */
  release(batch: OutboxBatch): Promise<void>;
  /**
   * Can never be delivered: move these records of a claimed batch to the dead-letter store.
   * Answers how many it stored: records a consent denial cleared while they were in flight are
   * dropped ('consent') instead. An outbox of the app's own may answer nothing (taken as all).
   */
  deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number | void>;

  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
  /**
   * Move dead letters back to pending (all, or those with these uuids); resolves the count moved.
   * They are queued with the time of the replay as `timestampMs` (the JSON keeps the event's own
   * time), so retention counts from the replay. Only those the queue takes leave the dead
   * letters: one over `maxBytes`, or with no room under 'drop-newest', stays.
   */
  replayDeadLetters(uuids?: readonly string[]): Promise<number>;
  /** Throw dead letters away (all, or those with these uuids); resolves the count. */
  purgeDeadLetters(uuids?: readonly string[]): Promise<number>;

  size(): Promise<OutboxSize>;
  /** Drop every pending record (consent denied); counted with reason 'consent'. */
  clear(): Promise<number>;

  /** Small persistent key/value state kept with the outbox: install id, breaker snapshots, consent. */
  getState<T = unknown>(key: string): Promise<T | undefined>;
  setState(key: string, value: unknown): Promise<void>;

  /** Write everything appended and acked so far to storage (fsync with 'fsync' durability). */
  persist(): Promise<void>;
  /**
   * Optional (the Node file outbox has it): the process ends in this turn (`process.exit()`), so
   * what is still only in memory, appends and acks, is written now, synchronously. Never throws;
   * what cannot be written is counted as dropped ('unsaved').
   */
  persistOnExit?(): void;
  /**
   * Optional: true when what this outbox holds now outlives the process (the Node file outbox).
   * A process exiting then need not wait out an endpoint's retry: the next run sends what is
   * left. Absent or false: the exit flush waits within its budget, as events would be lost.
   */
  keepsAcrossRuns?(): boolean;
  /**
   * Optional (the Node file outbox has it): `listener` is called when the outbox's directory took
   * a write again after losing the files kept beside the queue (deleted while the app ran, and
   * made again for the next segment) or never getting them (no file descriptor free at start):
   * what the client keeps there too (the install id) is written again then. Answers the
   * unsubscribe.
   */
  onKeptFilesLost?(listener: () => void): () => void;
  onDrop(listener: (drop: OutboxDrop) => void): () => void;
  /** Persist, release claims and locks, stop timers. Idempotent. */
  close(): Promise<void>;
}
