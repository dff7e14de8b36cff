import type Database from 'better-sqlite3';
import type { PreparedEvent } from './prepare-events.js';
import { FILTER_READY, keyFilterMaybe } from './sqlite-key-filter.js';
import { PendingKeys } from './sqlite-pending-keys.js';
import type { InsertResult } from './store.js';

/** One insertEvents call, checked and waiting for the next group commit. */
export interface LogAppend {
  projectPk: number;
  /** The events' keys, 16 bytes each, in order (PreparedBatch.keys). */
  keys: Buffer;
  /** The events as a log payload and where each one's part of it starts (encodeCall). */
  call: EncodedCall;
  /** Events of the call dropped before it was queued (their person was erased); only counted. */
  erased: number;
  /**
   * Whether the call's project has erased persons: only then are its new keys looked up in
   * `erased_keys` (events an erasure deleted; a resend of one counts as erased, not stored).
   */
  checkErased?: boolean;
}

/** A call's events as a log payload (see encodeCall). */
export interface EncodedCall {
  payload: string;
  /** Event i is `payload.slice(starts[i], starts[i + 1])`; one entry more than events. */
  starts: Int32Array;
}

/**
 * A log row's events as one string: a leading NUL, then 7 NUL-separated fields per event
 * (uuid or '' when the key gives it back, event, distinct id, timestamp ms, original timestamp
 * or '', received at, properties JSON). NUL cannot occur in any field: prepareEvents refuses it
 * in strings and JSON.stringify escapes it. Cheaper both ways than JSON, which would escape
 * the properties JSON a second time. The expander worker decodes it (payloads without the
 * leading NUL are the JSON arrays an earlier version wrote; they still expand).
 *
 * Each event's part starts with its NUL, so the payload of some of the events is their parts
 * put together. The whole call is encoded when it is checked, while its strings are still in
 * the CPU's caches: encoded in the group commit, after the other calls of the group and the
 * dedup index had passed through the caches, the same join cost the store thread about three
 * times as much, and the checked events stayed reachable until then, which the garbage
 * collector paid for.
 */
export function encodeCall(events: readonly PreparedEvent[]): EncodedCall {
  // One join writes one flat string; `+=` built a rope of about 14 pieces an event that
  // SQLite's binding then had to flatten (a second copy of every byte).
  const parts = new Array<string>(events.length * 7 + 1);
  const starts = new Int32Array(events.length + 1);
  parts[0] = '';
  let k = 1;
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const uuid = e.uuidText ?? '';
    const ts = decimalMs(e.tsMs);
    const original = e.originalTimestamp ?? '';
    parts[k++] = uuid;
    parts[k++] = e.event;
    parts[k++] = e.distinctId;
    parts[k++] = ts;
    parts[k++] = original;
    parts[k++] = e.receivedAt;
    parts[k++] = e.propertiesJson;
    starts[i] = at;
    at +=
      7 +
      uuid.length +
      e.event.length +
      e.distinctId.length +
      ts.length +
      original.length +
      e.receivedAt.length +
      e.propertiesJson.length;
  }
  starts[events.length] = at;
  return { payload: parts.join('\0'), starts };
}

/** The payload of the events at `indices` (ascending) of an encoded call. */
function payloadOf(call: EncodedCall, indices: readonly number[]): string {
  const parts = new Array<string>(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    parts[j] = call.payload.slice(call.starts[i], call.starts[i + 1]);
  }
  return parts.join('');
}

/** Where the log finds the key filter of `events` (the Expander). */
export interface KeyFilterSource {
  /** The filter (sqlite-key-filter.ts), or null. */
  readonly filter: Int32Array | null;
  /** Whether every key expanded through `expandedThrough` is in `filter`. */
  covers(expandedThrough: number): boolean;
}

/**
 * `String(ms)`, about six times faster for the ms of dates from 1970 on: V8 converts a number
 * past 2^31 to text on its slow path for doubles (about 230 ns on the reference machine, as much
 * as the rest of encoding an event), while two numbers below 10^8 take its fast path.
 */
export function decimalMs(ms: number): string {
  if (!(ms >= 0 && ms < 1e16) || !Number.isInteger(ms)) return String(ms);
  const high = Math.floor(ms / 1e8);
  const low = ms - high * 1e8;
  return high === 0 ? String(low) : String(high) + String(low).padStart(8, '0');
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
   * (project, key) of every log row not yet expanded, in the order the rows were logged; the
   * group commit in progress adds its keys as it decides them (taken back if it rolls back).
   * In 64 tables, so that as a backlog grows, one table at a time grows (a 64th of it), not all
   * of it at once.
   */
  private readonly pending = new PendingKeys(256, 64);
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
  private readonly checkErased: Database.Statement<unknown[], Buffer>;
  private readonly insertLog: Database.Statement<[number, number, Buffer, string]>;
  private readonly deleteUpTo: Database.Statement<[number]>;
  private readonly appendTx: Database.Transaction<(calls: readonly LogAppend[]) => AppendOutcome>;
  /** `pending.end` when this group's own keys began (-1 before), to roll them back. */
  private groupStart = -1;
  /** Log rows with id ≤ this are expanded (reported by the worker) and may be deleted. */
  private expandedThrough = 0;
  private trimmedThrough = 0;

  private readonly selectExpandedThrough: Database.Statement<[], number>;

  /**
   * `logDb`: the log file's connection; `db`: homing.db's (for the `events` check); `filters`:
   * where the current key filter of `events` is, or null for none.
   */
  constructor(
    private readonly logDb: Database.Database,
    db: Database.Database,
    private readonly filters: KeyFilterSource | null = null,
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
    this.checkErased = db
      .prepare<unknown[], Buffer>(`SELECT key FROM erased_keys WHERE project_pk = ? AND key IN (${marks})`)
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
    this.groupStart = -1;
    let outcome: AppendOutcome;
    try {
      outcome = this.appendTx.immediate(calls);
    } catch (err) {
      // A rolled-back group must not leave its keys pending. Rows other connections committed,
      // read in the same transaction, stay known (their keys are pending in any case).
      if (this.groupStart >= 0) this.pending.rollBack(this.groupStart);
      throw err;
    }
    for (const row of outcome.rows) this.pendingRows.push(row);
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

  /** Newest log id this connection knows of, expanded or not (0: none yet). */
  lastLogId(): number {
    return Math.max(this.selectMaxId.get() ?? 0, this.expandedThrough);
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
    const pending = this.pending;
    // Log rows other connections appended since we last looked are pending too. They are
    // committed, so they are remembered now, whatever becomes of this transaction.
    const others = this.selectAfter.all(this.lastSeenId);
    for (const r of others) {
      for (let at = 0; at < r.keys.length; at += 16) pending.put(r.project_pk, r.keys, at);
      this.pendingRows.push({ id: r.id, end: pending.end });
    }
    if (others.length > 0) this.lastSeenId = others[others.length - 1]!.id;
    this.groupStart = pending.end;
    let lastId = 0;
    // The filter stands for `events` only if the last expansion committed is one whose keys
    // went into it (our worker adds them before committing and says so in shared memory):
    // another connection's expansion shows as an id it does not cover, and then SQLite is
    // asked. Not the worker's reports: under load one arrived several group commits after
    // its commit, and until then every key was looked up in SQLite.
    let filter = this.filters === null ? null : this.filters.filter;
    if (filter !== null) {
      if (Atomics.load(filter, 0) !== FILTER_READY) filter = null;
      else if (!this.filters!.covers(this.selectExpandedThrough.get() ?? 0)) filter = null;
    }
    const results: InsertResult[] = [];
    for (const { projectPk: pk, keys, call, erased, checkErased } of calls) {
      const n = call.starts.length - 1;
      // Indices of the call's events that were neither pending nor earlier in the group: added
      // to `pending` now, so later events of the group find them.
      const candidates: number[] = [];
      let duplicates = 0;
      pending.addAll(pk, keys, n, candidates);
      duplicates += n - candidates.length;
      const stored = this.storedKeys(pk, keys, candidates, filter);
      let accepted = candidates;
      if (stored !== null) {
        accepted = [];
        for (const i of candidates) {
          if (!stored.has(keys.toString('latin1', i * 16, i * 16 + 16))) accepted.push(i);
          else pending.remove(pk, keys, i * 16);
        }
      }
      duplicates += candidates.length - accepted.length;
      // After the `events` check, not before: an erasure deletes an event and keeps its key in
      // one transaction, so a key missed in `events` because that commit came between the two
      // reads is found here.
      let erasedKeys = 0;
      if (checkErased === true && accepted.length > 0) {
        const gone = this.keysIn(this.checkErased, pk, keys, accepted);
        if (gone !== null) {
          const kept: number[] = [];
          for (const i of accepted) {
            if (!gone.has(keys.toString('latin1', i * 16, i * 16 + 16))) kept.push(i);
            else pending.remove(pk, keys, i * 16);
          }
          erasedKeys = accepted.length - kept.length;
          accepted = kept;
          // The call's own repeats of an erased event are erased too, not duplicates (as the
          // suppression check counts them): a key in `gone` was new to `pending`, so every other
          // index holding it repeats it within this call.
          if (candidates.length < n) {
            const first = new Set(candidates);
            for (let i = 0; i < n; i++) {
              if (!first.has(i) && gone.has(keys.toString('latin1', i * 16, i * 16 + 16))) {
                duplicates--;
                erasedKeys++;
              }
            }
          }
        }
      }
      if (accepted.length > 0) {
        const all = accepted.length === n;
        const rowKeys = all ? keys : gatherKeys(keys, accepted);
        const payload = all ? call.payload : payloadOf(call, accepted);
        const id = Number(this.insertLog.run(pk, accepted.length, rowKeys, payload).lastInsertRowid);
        rows.push({ id, end: pending.end });
        lastId = id;
      }
      results.push({ accepted: accepted.length, duplicates, erased: erased + erasedKeys });
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
    const ask = filter === null ? candidates : keyFilterMaybe(filter, projectPk, keys, candidates);
    return this.keysIn(this.checkStored, projectPk, keys, ask);
  }

  /** Latin1 strings of the keys at `indices` that `stmt` finds, or null when it finds none. */
  private keysIn(
    stmt: Database.Statement<unknown[], Buffer>,
    projectPk: number,
    keys: Buffer,
    indices: readonly number[],
  ): Set<string> | null {
    if (indices.length === 0) return null;
    const found = new Set<string>();
    const params: unknown[] = new Array(CHECK_WIDTH + 1);
    params[0] = projectPk;
    for (let i = 0; i < indices.length; i += CHECK_WIDTH) {
      for (let j = 0; j < CHECK_WIDTH; j++) {
        const e = indices[i + j];
        params[j + 1] = e === undefined ? NO_KEY : keys.subarray(e * 16, e * 16 + 16);
      }
      for (const key of stmt.all(...params)) found.add(key.toString('latin1'));
    }
    return found.size === 0 ? null : found;
  }

  /** Forgets pending keys of log rows with id < minId: they are in `events` now. */
  private forgetBelow(minId: number): void {
    const rows = this.pendingRows;
    let end = -1;
    while (this.pendingHead < rows.length && rows[this.pendingHead]!.id < minId) {
      end = rows[this.pendingHead]!.end;
      this.pendingHead++;
    }
    // A newer row may hold the same key (appended by another connection): `put` moved it
    // there, and it stays.
    if (end >= 0) this.pending.forgetBefore(end);
    if (this.pendingHead > 1024 && this.pendingHead * 2 > rows.length) {
      rows.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }
}

interface LoggedRow {
  id: number;
  /** `pending.end` after the row's keys were added: forgetting the row forgets those before. */
  end: number;
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
