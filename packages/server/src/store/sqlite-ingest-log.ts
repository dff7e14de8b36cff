import type Database from 'better-sqlite3';
import type { PreparedEvent } from './prepare-events.js';
import { FILTER_READY, keyFilterHas } from './sqlite-key-filter.js';
import { PendingKeys } from './sqlite-pending-keys.js';
import type { InsertResult } from './store.js';

/** One insertEvents call, checked and waiting for the next group commit. */
export interface LogAppend {
  projectPk: number;
  events: readonly PreparedEvent[];
  /** The events' keys, 16 bytes each, in order (PreparedBatch.keys). */
  keys: Buffer;
  /** Events of the call dropped before it was queued (their person was erased); only counted. */
  erased: number;
}

/**
 * A log row's events as one string: a leading NUL, then 7 NUL-separated fields per event
 * (uuid or '' when the key gives it back, event, distinct id, timestamp ms, original timestamp
 * or '', received at, properties JSON). NUL cannot occur in any field: prepareEvents refuses it
 * in strings and JSON.stringify escapes it. Cheaper both ways than JSON, which would escape
 * the properties JSON a second time. The expander worker decodes it (payloads without the
 * leading NUL are the JSON arrays an earlier version wrote; they still expand).
 */
function encodePayload(events: readonly PreparedEvent[], accepted: readonly number[]): string {
  // One join writes one flat string; `+=` built a rope of about 14 pieces an event that
  // SQLite's binding then had to flatten (a second copy of every byte).
  const parts = new Array<string | number>(accepted.length * 7 + 1);
  parts[0] = '';
  let k = 1;
  for (const i of accepted) {
    const e = events[i]!;
    parts[k++] = e.uuidText ?? '';
    parts[k++] = e.event;
    parts[k++] = e.distinctId;
    parts[k++] = e.tsMs;
    parts[k++] = e.originalTimestamp ?? '';
    parts[k++] = e.receivedAt;
    parts[k++] = e.propertiesJson;
  }
  return parts.join('\0');
}

const CHECK_WIDTH = 100;
const NO_KEY = Buffer.alloc(0);

/**
 * The append-only ingest log in front of SQLite's `events` table, and the exact dedup that
 * lets insertEvents answer `duplicates` honestly before the events are expanded.
 *
 * The log is a database file of its own (`ingest-log.db` beside `homing.db`), so committing
 * to it takes that file's write lock only: an acknowledgement never waits for the expander,
 * which holds `homing.db`'s write lock for most of its time under load.
 *
 * Commit path (`append`): one transaction per group of calls writes one `ingest_log` row per
 * call (the accepted events as one payload plus their 16-byte keys); that is a few
 * sequential page writes per 100 events instead of one random index page per event.
 *
 * Expansion runs in the expander worker (sqlite-expander-worker.ts) on its own connections: it
 * inserts log rows into `events` and records the last expanded log id in `homing.db`'s
 * `ingest_progress` in the same transaction, then tells this log (`forgetExpanded`), which
 * deletes those rows from the log file (`trim`). A crash between the two leaves rows in the
 * log at or below the recorded id: they are skipped, never expanded twice.
 *
 * Duplicates are decided inside the append transaction, under the log file's write lock,
 * against (1) earlier events of the same group, (2) `pending`, the keys of every log row not yet
 * expanded, including rows other connections appended (read from the log by id), and (3) the
 * `events` table. A key is always in one of them: it is pending from its log commit until the
 * worker reported its expansion, which comes after the events commit, and log rows are deleted
 * only after that. So `duplicates` is exact, also with several connections on one data
 * directory. The memory `pending` costs is bounded by `maxPendingEvents` in the store.
 */
export class IngestLog {
  /**
   * (project, key) of every log row not yet expanded → its log id. In 64 tables, so that as a
   * backlog grows, one table at a time grows (a 64th of it), not all of it at once.
   */
  private readonly pending = new PendingKeys(256, 64);
  /** The keys of the group commit in progress (scratch, emptied per group). */
  private readonly group = new PendingKeys();
  /** Log rows in `pending`, oldest first, so expanded rows can be forgotten in order. */
  private readonly pendingRows: LoggedRow[] = [];
  private pendingHead = 0;
  private lastSeenId = 0;

  private readonly selectAfter: Database.Statement<
    [number],
    { id: number; project_pk: number; keys: Buffer }
  >;
  private readonly selectMinId: Database.Statement<[], number | null>;
  private readonly selectMaxId: Database.Statement<[], number | null>;
  private readonly checkStored: Database.Statement<unknown[], Buffer>;
  private readonly insertLog: Database.Statement<[number, number, Buffer, string]>;
  private readonly deleteUpTo: Database.Statement<[number]>;
  private readonly appendTx: Database.Transaction<(calls: readonly LogAppend[]) => AppendOutcome>;
  /** Log rows with id ≤ this are expanded (reported by the worker) and may be deleted. */
  private expandedThrough = 0;
  private trimmedThrough = 0;

  private readonly selectExpandedThrough: Database.Statement<[], number>;

  /**
   * `logDb`: the log file's connection; `db`: homing.db's (for the `events` check); `filter`:
   * the current key filter of `events` (sqlite-key-filter.ts), or null.
   */
  constructor(
    private readonly logDb: Database.Database,
    db: Database.Database,
    private readonly filter: () => Int32Array | null = () => null,
  ) {
    this.selectExpandedThrough = db
      .prepare<[], number>('SELECT expanded_through FROM ingest_progress WHERE id = 1')
      .pluck();
    this.selectAfter = logDb.prepare('SELECT id, project_pk, keys FROM ingest_log WHERE id > ? ORDER BY id');
    this.selectMinId = logDb.prepare<[], number | null>('SELECT min(id) FROM ingest_log').pluck();
    this.selectMaxId = logDb.prepare<[], number | null>('SELECT max(id) FROM ingest_log').pluck();
    const marks = Array.from({ length: CHECK_WIDTH }, () => '?').join(',');
    this.checkStored = db
      .prepare<unknown[], Buffer>(`SELECT key FROM events WHERE project_pk = ? AND key IN (${marks})`)
      .pluck();
    this.insertLog = logDb.prepare(
      'INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (?, ?, ?, ?)',
    );
    this.deleteUpTo = logDb.prepare('DELETE FROM ingest_log WHERE id <= ?');
    this.appendTx = logDb.transaction((calls: readonly LogAppend[]) => this.appendInTx(calls));
  }

  /** Keys of log rows not yet expanded that this connection knows of. */
  get pendingEvents(): number {
    return this.pending.size;
  }

  /** One transaction for the whole group; throws (and writes nothing) if any part fails. */
  append(calls: readonly LogAppend[]): InsertResult[] {
    const outcome = this.appendTx.immediate(calls);
    // Applied only after the commit: a rolled-back group must not leave keys marked pending.
    for (const row of outcome.rows) this.remember(row);
    if (outcome.lastId > this.lastSeenId) this.lastSeenId = outcome.lastId;
    // Rows other connections appended may already be expanded (not yet trimmed).
    this.forgetBelow(Math.max(outcome.minId, this.expandedThrough + 1));
    return outcome.results;
  }

  /**
   * Newest log id not yet expanded, or 0 when there is none. Rows at or below the expanded id
   * may still be in the file until trimmed; they do not count.
   */
  maxLogId(): number {
    const max = this.selectMaxId.get() ?? 0;
    return max > this.expandedThrough ? max : 0;
  }

  /** The expander moved every log row with id ≤ lastId into `events`: forget their keys. */
  forgetExpanded(lastId: number): void {
    if (lastId > this.expandedThrough) this.expandedThrough = lastId;
    this.forgetBelow(lastId + 1);
  }

  /**
   * Deletes the expanded rows from the log file (their events are committed in homing.db).
   * A short transaction of its own on the log file's lock; throws what SQLite throws.
   */
  trim(): void {
    if (this.expandedThrough <= this.trimmedThrough) return;
    const upTo = this.expandedThrough;
    this.deleteUpTo.run(upTo);
    this.trimmedThrough = upTo;
  }

  private appendInTx(calls: readonly LogAppend[]): AppendOutcome {
    const rows: LoggedRow[] = [];
    const group = this.group;
    group.clear();
    // Log rows other connections appended since we last looked are pending too.
    for (const r of this.selectAfter.all(this.lastSeenId)) {
      for (let at = 0; at < r.keys.length; at += 16) group.set(r.project_pk, r.keys, at, 1);
      rows.push({ id: r.id, pk: r.project_pk, keys: r.keys });
    }
    let lastId = rows.length > 0 ? rows[rows.length - 1]!.id : 0;
    // The filter stands for `events` only if every expansion so far is one our worker reported
    // (its keys went into the filter before it committed): another connection's expansion
    // shows as an expanded id ahead of the reports, and then SQLite is asked.
    let filter = this.filter();
    if (filter !== null) {
      if (Atomics.load(filter, 0) !== FILTER_READY) filter = null;
      else if ((this.selectExpandedThrough.get() ?? 0) !== this.expandedThrough) filter = null;
    }
    const results: InsertResult[] = [];
    for (const { projectPk: pk, events, keys, erased } of calls) {
      // Indices of the call's events that are new to the group and not pending.
      const candidates: number[] = [];
      let duplicates = 0;
      for (let i = 0; i < events.length; i++) {
        if (this.pending.get(pk, keys, i * 16) !== 0 || !group.set(pk, keys, i * 16, 1)) duplicates++;
        else candidates.push(i);
      }
      const stored = this.storedKeys(pk, keys, candidates, filter);
      const accepted =
        stored === null
          ? candidates
          : candidates.filter((i) => !stored.has(keys.toString('latin1', i * 16, i * 16 + 16)));
      duplicates += candidates.length - accepted.length;
      if (accepted.length > 0) {
        const rowKeys = accepted.length === events.length ? keys : gatherKeys(keys, accepted);
        const id = Number(
          this.insertLog.run(pk, accepted.length, rowKeys, encodePayload(events, accepted)).lastInsertRowid,
        );
        rows.push({ id, pk, keys: rowKeys });
        lastId = id;
      }
      results.push({ accepted: accepted.length, duplicates, erased });
    }
    return { results, rows, lastId, minId: this.selectMinId.get() ?? Number.MAX_SAFE_INTEGER };
  }

  /** Latin1 strings of the candidates' keys already in `events`, or null when there is none. */
  private storedKeys(
    projectPk: number,
    keys: Buffer,
    candidates: readonly number[],
    filter: Int32Array | null,
  ): Set<string> | null {
    const ask =
      filter === null ? candidates : candidates.filter((i) => keyFilterHas(filter, projectPk, keys, i * 16));
    if (ask.length === 0) return null;
    const found = new Set<string>();
    const params: unknown[] = new Array(CHECK_WIDTH + 1);
    params[0] = projectPk;
    for (let i = 0; i < ask.length; i += CHECK_WIDTH) {
      for (let j = 0; j < CHECK_WIDTH; j++) {
        const e = ask[i + j];
        params[j + 1] = e === undefined ? NO_KEY : keys.subarray(e * 16, e * 16 + 16);
      }
      for (const key of this.checkStored.all(...params)) found.add(key.toString('latin1'));
    }
    return found.size === 0 ? null : found;
  }

  private remember(row: LoggedRow): void {
    for (let at = 0; at < row.keys.length; at += 16) this.pending.set(row.pk, row.keys, at, row.id);
    this.pendingRows.push(row);
  }

  /** Forgets pending keys of log rows with id < minId: they are in `events` now. */
  private forgetBelow(minId: number): void {
    const rows = this.pendingRows;
    while (this.pendingHead < rows.length && rows[this.pendingHead]!.id < minId) {
      const row = rows[this.pendingHead]!;
      // A newer row may hold the same key (appended by another connection): only this row's go.
      for (let at = 0; at < row.keys.length; at += 16) this.pending.deleteIf(row.pk, row.keys, at, row.id);
      this.pendingHead++;
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > rows.length) {
      rows.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }
}

interface LoggedRow {
  id: number;
  pk: number;
  /** The row's keys, 16 bytes each. */
  keys: Buffer;
}

interface AppendOutcome {
  results: InsertResult[];
  rows: LoggedRow[];
  lastId: number;
  minId: number;
}

/** The keys of the events at `indices`, 16 bytes each, in one buffer. */
function gatherKeys(keys: Buffer, indices: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(indices.length * 16);
  indices.forEach((i, j) => keys.copy(out, j * 16, i * 16, i * 16 + 16));
  return out;
}
