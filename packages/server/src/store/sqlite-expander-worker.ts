import type { MessagePort } from 'node:worker_threads';
import type { shrinkIdleFiles } from './sqlite-idle-shrink.js';
import type { checkpointLogWal, holdLogWrites } from './sqlite-log-checkpoint.js';

/** What the store passes to the worker (structured-cloned; `port` and `shared` are shared). */
export interface ExpanderWorkerData {
  /** Resolved path of better-sqlite3, so the worker loads the same module the store does. */
  sqliteModule: string;
  /** homing.db, where `events` and `ingest_progress` are. */
  path: string;
  /** The ingest log's own file. */
  logPath: string;
  synchronous: 'normal' | 'full';
  cacheSizeMiB: number;
  walAutocheckpointPages: number;
  /** `journal_size_limit` of both connections (walSizeLimitBytes in sqlite-options.ts). */
  walSizeLimitBytes: number;
  /** Free bytes in the log file past which the idle worker gives them back (logVacuumFreeMiB). */
  logVacuumFreeBytes: number;
  busyTimeoutMs: number;
  chunkEvents: number;
  /** Nice value for this thread (0: the process's own). */
  nice: number;
  pollMs: number;
  retryMs: number;
  /** The write turn (see sqlite-write-turn.ts) and its slot numbers. */
  shared: Int32Array;
  slots: { holder: number; ingestWaiting: number; wake: number; logHold: number; logWriting: number };
  /** Messages from the store, read synchronously between chunks. */
  port: MessagePort;
  /** The key filter this worker fills (see sqlite-key-filter.ts), or null. */
  filter: Int32Array | null;
  /**
   * Where the worker publishes which expanded ids `filter` covers (every key expanded through
   * them is in it), so the store need not wait for its reports: [0] its own last commit (or
   * the expanded id of the snapshot its filter scan began from), [1] the id of the commit in
   * progress, published once its keys are in the filter (equal to [0] between commits).
   * While its transaction holds homing.db's write lock nobody else can commit, so the id in
   * `ingest_progress` is one of the two unless another connection expanded rows before, which
   * the worker finds when it next begins (and turns the filter off).
   */
  filterThrough: BigInt64Array | null;
  /** Rows of `events` read per step while building the filter. */
  filterScanRows: number;
}

/** A log row whose payload does not decode: its events could not be stored. */
export interface DamagedLogRow {
  id: number;
  projectPk: number;
  events: number;
}

/** One expansion transaction's outcome. */
interface Expanded {
  through: number;
  more: boolean;
  n: number;
  damaged: DamagedLogRow[];
}

/** Messages the worker posts to the store. */
export type ExpanderReport =
  /**
   * Every log row with id ≤ through is in `events` (ids only grow, and expansion takes the
   * oldest rows first, so the rows gone are a prefix, whichever connection expanded them).
   */
  | { type: 'progress'; through: number }
  /** Log rows that could not be decoded, skipped by the expansion that reported `through` next. */
  | { type: 'damaged'; rows: DamagedLogRow[] }
  /** `wakeSeen`: the wake counter when the failed attempt began (older requests only fail). */
  | { type: 'error'; message: string; code: string | null; wakeSeen: number }
  /** The store asked it to stop; `leftEvents`: events left in the log for the next start (-1: unknown). */
  | { type: 'stopped'; leftEvents: number }
  /**
   * Giving the files' free space back failed (sqlite-idle-shrink.ts) with something other than
   * a lock in the way; nothing is lost, it is tried again at the next idle moment.
   */
  | { type: 'shrink-failed'; message: string; code: string | null }
  /** The scrub an erasure asked for is done: see ExpanderCommand 'scrub'. */
  | { type: 'scrubbed'; through: number };

/**
 * Messages the store posts to the worker. `scrub`: an erasure is done; every log row with id ≤
 * `through` may hold the person's bytes. Once the store has deleted those rows, at the next
 * moment with nothing to expand, the worker gives back every free page of the log (relocated
 * pages overwrite the free ones, the rest is cut off the file) and truncates both WALs, so the
 * erased bytes are in none of the store's files. Without it they stayed in the log's free pages
 * until reused (kept up to `logVacuumFreeMiB`, 8 MiB, when idle) and in the WALs until rewritten.
 * The erasure also records the scrub as due in homing.db (`ingest_progress.scrub_through`): the
 * worker reads it at each idle moment, so one a stopped server had not done is done after the
 * next start, and clears it once done.
 */
export type ExpanderCommand = { type: 'stop'; budgetMs: number } | { type: 'scrub'; through: number };

/**
 * The expander worker's whole program. It runs in a `worker_threads` worker started with
 * `eval` from this function's source text, so it works the same from the TypeScript sources
 * (tests) and from the built JavaScript: it must not refer to anything outside its body, and
 * loads what it needs through the `require` it is given.
 *
 * Loop: take the write turn (giving way while the ingest thread waits for it), move the oldest
 * log rows past `ingest_progress.expanded_through` into `events` in one transaction (INSERT OR
 * IGNORE sorted by key, and the new expanded id with them: a crash leaves both or neither;
 * rows of projects removed or gone are skipped), release the turn, report the expanded id (the store then deletes those rows from the log
 * file). With nothing to do it gives back the files' free space (sqlite-idle-shrink.ts), then
 * sleeps until woken or `pollMs` (rows other processes append).
 */
export function expanderWorkerMain(
  req: NodeRequire,
  filterAdd: (f: Int32Array, pk: number, key: Uint8Array) => void,
  checkpointLog: typeof checkpointLogWal,
  holdLog: typeof holdLogWrites,
  shrinkIdle: typeof shrinkIdleFiles,
): void {
  const wt = req('node:worker_threads') as typeof import('node:worker_threads');
  const d = wt.workerData as ExpanderWorkerData;
  const parent = wt.parentPort!;
  const post = (m: ExpanderReport): void => parent.postMessage(m);
  const Database = req(d.sqliteModule) as typeof import('better-sqlite3');
  const s = d.shared;
  const slot = d.slots;

  // Linux only (a thread's nice value, set through its id): elsewhere it runs at the
  // process's priority, which is correct, only less kind to acknowledgements.
  if (d.nice > 0) {
    try {
      const tid = Number(req('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
      if (Number.isInteger(tid) && tid > 0) req('node:os').setPriority(tid, d.nice);
    } catch {
      /* no per-thread priority here */
    }
  }

  const db = new Database(d.path, { timeout: d.busyTimeoutMs });
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${d.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`cache_size = ${-d.cacheSizeMiB * 1024}`);
  db.pragma(`wal_autocheckpoint = ${d.walAutocheckpointPages}`);
  db.pragma(`journal_size_limit = ${d.walSizeLimitBytes}`);
  db.pragma('temp_store = MEMORY');
  // Space its inserts free inside a page (cells moved when a page splits) is zeroed too, as the
  // main connection's deletes are (sqlite-open.ts): else an erased event's bytes outlived it there.
  db.pragma('secure_delete = ON');

  type Row = [string | null, string, string, number, string | null, string, string];
  const FIELDS = 7;
  const textOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
  /** A row of the JSON format as the store wrote it: the 7 fields, each of its type. */
  const wellFormed = (r: unknown): r is Row =>
    Array.isArray(r) &&
    r.length === FIELDS &&
    textOrNull(r[0]) &&
    typeof r[1] === 'string' &&
    typeof r[2] === 'string' &&
    Number.isFinite(r[3]) &&
    textOrNull(r[4]) &&
    typeof r[5] === 'string' &&
    typeof r[6] === 'string';
  // Payloads: a leading NUL then 7 NUL-separated fields per event (see sqlite-ingest-log.ts);
  // without the leading NUL, the JSON arrays an older version wrote. Null: the row is damaged
  // (its fields do not make `n` events, or a time is no number), which no retry mends. A new
  // payload format must come with a schema migration, so that refuseNewerSchema keeps an older
  // version, which would take its rows for damage, off the data directory.
  const decode = (payload: string, n: number): Row[] | null => {
    if (payload.charCodeAt(0) !== 0) {
      let rows: unknown;
      try {
        rows = JSON.parse(payload);
      } catch {
        return null;
      }
      return Array.isArray(rows) && rows.length === n && rows.every(wellFormed) ? rows : null;
    }
    const f = payload.split('\0');
    if (f.length - 1 !== n * FIELDS) return null;
    const rows: Row[] = new Array(n);
    for (let i = 0, k = 1; i < n; i++, k += FIELDS) {
      const ts = Number(f[k + 3]);
      if (!Number.isFinite(ts)) return null;
      rows[i] = [f[k] || null, f[k + 1]!, f[k + 2]!, ts, f[k + 4] || null, f[k + 5]!, f[k + 6]!];
    }
    return rows;
  };

  // The log file: read here (the store appends to it and deletes expanded rows); written only
  // by the idle shrink, with the store's log writes held (sqlite-idle-shrink.ts).
  const logDb = new Database(d.logPath, { timeout: d.busyTimeoutMs });
  logDb.pragma('journal_mode = WAL');
  logDb.pragma(`journal_size_limit = ${d.walSizeLimitBytes}`);
  // A hold left by a worker that died holding it.
  Atomics.store(s, slot.logHold, 0);
  Atomics.notify(s, slot.logHold);
  // WAL frames past which the log's checkpoint is finished with the store's writes held: a
  // quarter of the store's own autocheckpoint bound, which is then only a backstop.
  const logPageSize = logDb.pragma('page_size', { simple: true }) as number;
  const holdFrames = Math.max(1, Math.round((d.walAutocheckpointPages * 4096) / logPageSize / 4));
  const selectChunk = logDb.prepare<
    [number],
    { id: number; project_pk: number; n: number; keys: Buffer; payload: string }
  >('SELECT id, project_pk, n, keys, payload FROM ingest_log WHERE id > ? ORDER BY id');
  // Rows go in ROWS at a time: a statement call cost about 0.5 µs of binding and stepping
  // overhead a row when each row was one call (measured in-memory without indexes: 1.3-2.0 µs a
  // row one by one, 0.9 µs fifty at a time).
  const ROWS = 50;
  const COLUMNS = 9;
  const insertSql = (rows: number): string =>
    `INSERT OR IGNORE INTO events
       (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
     VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
  const insertEvent = db.prepare(insertSql(1));
  const insertEvents = db.prepare(insertSql(ROWS));
  const params: unknown[] = new Array(ROWS * COLUMNS);
  const selectThrough = db
    .prepare<[], number>('SELECT expanded_through FROM ingest_progress WHERE id = 1')
    .pluck();
  const setThrough = db.prepare('UPDATE ingest_progress SET expanded_through = ? WHERE id = 1');
  const keepDamaged = db.prepare(
    'INSERT OR IGNORE INTO damaged_log_rows (id, project_pk, n, keys, payload, found_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  // Read in each expansion's transaction, under homing.db's write lock: a project marked removed
  // (or whose row was deleted) before it began gets none of its log rows' events, and rows
  // expanded before the mark committed are there for the removal to delete.
  const selectLive = db.prepare<[], number>('SELECT pk FROM projects WHERE removed_at IS NULL').pluck();
  // `n` comes before the payload in each row: the sum reads no overflow page.
  const selectLeft = logDb
    .prepare<[number], number>('SELECT coalesce(sum(n), 0) FROM ingest_log WHERE id > ?')
    .pluck();

  // The key filter (sqlite-key-filter.ts; word 0 is its state: 0 building, 1 ready, 2 off).
  // It is complete only if this worker added every key that reached `events` since the scan's
  // snapshot: `lastThrough` is the expanded id this worker last saw, and any other value in
  // `ingest_progress` means someone else expanded rows, whose keys it does not know.
  const filter = d.filter;
  const publish = (committed: number, committing: number): void => {
    if (d.filterThrough === null) return;
    Atomics.store(d.filterThrough, 1, BigInt(committing));
    Atomics.store(d.filterThrough, 0, BigInt(committed));
  };
  let lastThrough = 0;
  let scanAfter = 0;
  let scanUpTo = 0;
  let scanning = false;
  const scanStep = db.prepare<[number, number, number], [number, number, Buffer]>(
    'SELECT rowid, project_pk, key FROM events WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?',
  );
  if (filter !== null) {
    const start = db.transaction(() => ({
      through: selectThrough.get() ?? 0,
      maxRowid: (db.prepare('SELECT max(rowid) FROM events').pluck().get() as number | null) ?? 0,
    }));
    const snap = start();
    lastThrough = snap.through;
    publish(lastThrough, lastThrough);
    scanUpTo = snap.maxRowid;
    scanning = true;
    scanStep.raw(true);
  }
  const offUnlessOurs = (from: number): void => {
    if (filter !== null && from !== lastThrough) Atomics.store(filter, 0, 2);
  };
  /** Adds one slice of the rows that were in `events` when the worker started; true when done. */
  const scanSlice = (): boolean => {
    const rows = scanStep.all(scanAfter, scanUpTo, d.filterScanRows);
    for (const [, pk, key] of rows) filterAdd(filter!, pk, key);
    if (rows.length < d.filterScanRows) {
      Atomics.compareExchange(filter!, 0, 0, 1);
      return true;
    }
    scanAfter = rows[rows.length - 1]![0];
    return false;
  };

  // Under homing.db's write lock, so two workers on one data directory never expand the same
  // rows; the events and the new expanded id commit together (a crash keeps both or neither).
  const expandTx = db.transaction((limit: number): Expanded => {
    const from = selectThrough.get() ?? 0;
    offUnlessOurs(from);
    const live = new Set(selectLive.all());
    const entries: { pk: number; key: Buffer; head: number; mid: number; row: Row }[] = [];
    const damaged: DamagedLogRow[] = [];
    let lastId = 0;
    let more = false;
    for (const r of selectChunk.iterate(from)) {
      if (entries.length >= limit) {
        more = true;
        break;
      }
      if (!live.has(r.project_pk)) {
        // A removed project's events: dropped, the row counted as expanded.
        lastId = r.id;
        continue;
      }
      const rows = r.keys.length === r.n * 16 ? decode(r.payload, r.n) : null;
      if (rows === null) {
        // Damaged on disk: kept whole in damaged_log_rows, counted as expanded, and told, rather
        // than failing every chunk for good with it, which held every later event out of `events`.
        keepDamaged.run(r.id, r.project_pk, r.n, r.keys, r.payload, new Date().toISOString());
        damaged.push({ id: r.id, projectPk: r.project_pk, events: r.n });
        lastId = r.id;
        continue;
      }
      for (let j = 0; j < rows.length; j++) {
        const key = r.keys.subarray(j * 16, j * 16 + 16);
        entries.push({
          pk: r.project_pk,
          key,
          head: key.readUIntBE(0, 6),
          mid: key.readUIntBE(6, 6),
          row: rows[j]!,
        });
      }
      lastId = r.id;
    }
    if (lastId === 0) return { through: from, more: false, n: 0, damaged };
    // Sorted keys touch the unique index's pages in order, each page once per chunk. By the
    // keys' first 12 bytes as two numbers first (v7 keys of one millisecond share the first
    // 6): Buffer.compare is a call into C++ each time.
    entries.sort((a, b) => a.pk - b.pk || a.head - b.head || a.mid - b.mid || Buffer.compare(a.key, b.key));
    const full = entries.length - (entries.length % ROWS);
    for (let i = 0; i < entries.length; i++) {
      const { pk, key, row } = entries[i]!;
      // Before the commit: the store forgets these keys as pending only after this reports.
      if (filter !== null) filterAdd(filter, pk, key);
      if (i >= full) {
        insertEvent.run(pk, key, row[0], row[1], row[2], row[3], row[4], row[5], row[6]);
        continue;
      }
      const o = (i % ROWS) * COLUMNS;
      params[o] = pk;
      params[o + 1] = key;
      for (let c = 0; c < 7; c++) params[o + 2 + c] = row[c];
      if (o === (ROWS - 1) * COLUMNS) insertEvents.run(...params);
    }
    setThrough.run(lastId);
    // Every key of the chunk is in the filter: the commit that follows is covered.
    publish(from, lastId);
    return { through: lastId, more, n: entries.length, damaged };
  });

  const takeTurn = (): void => {
    for (;;) {
      while (Atomics.load(s, slot.ingestWaiting) !== 0) Atomics.wait(s, slot.ingestWaiting, 1, 50);
      if (Atomics.compareExchange(s, slot.holder, 0, 2) === 0) return;
      Atomics.wait(s, slot.holder, 1, 50);
    }
  };
  const releaseTurn = (): void => {
    Atomics.store(s, slot.holder, 0);
    Atomics.notify(s, slot.holder);
  };
  /** Milliseconds an event cost in the last chunk, turn wait and commit included (0: none yet). */
  let msPerEvent = 0;
  const expandOne = (limit: number): Expanded => {
    const started = performance.now();
    takeTurn();
    try {
      const r = expandTx.immediate(limit);
      if (r.n > 0) msPerEvent = (performance.now() - started) / r.n;
      lastThrough = r.through;
      publish(lastThrough, lastThrough);
      return r;
    } catch (err) {
      publish(lastThrough, lastThrough);
      throw err;
    } finally {
      releaseTurn();
    }
  };

  const fileSize = (path: string): number => {
    try {
      return (req('node:fs') as typeof import('node:fs')).statSync(path).size;
    } catch {
      return 0;
    }
  };
  /**
   * Gives back the files' free space (sqlite-idle-shrink.ts). `quiet`: nothing arrived for a
   * whole poll period. A lock in the way is no failure: the next idle moment tries again.
   */
  const shrink = (seen: number, quiet: boolean, logVacuumFreeBytes: number): void => {
    try {
      shrinkIdle({
        db,
        logDb,
        dbWal: `${d.path}-wal`,
        logWal: `${d.logPath}-wal`,
        fileSize,
        holdLogWrites: (fn) => holdLog(s, slot, fn),
        withWriteTurn: (fn) => {
          takeTurn();
          try {
            return fn();
          } finally {
            releaseTurn();
          }
        },
        woken: () => Atomics.load(s, slot.wake) !== seen,
        busyTimeoutMs: d.busyTimeoutMs,
        logVacuumFreeBytes,
        quiet,
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return;
      post({
        type: 'shrink-failed',
        message: (err as Error).message,
        code: typeof code === 'string' ? code : null,
      });
    }
  };

  /** The highest log id an erasure asked a scrub through (0: none due); see ExpanderCommand. */
  let scrubThrough = 0;
  const logHoldsThrough = logDb
    .prepare<[number], number>('SELECT 1 FROM ingest_log WHERE id <= ? LIMIT 1')
    .pluck();
  // The scrub due as homing.db records it (SQLite migration 8): one an earlier run had not done
  // before it stopped, or another process's erasure. Read at each idle moment (one row).
  const selectScrubDue = db
    .prepare<[], number>('SELECT scrub_through FROM ingest_progress WHERE id = 1')
    .pluck();
  // Only up to what was scrubbed: an erasure that committed meanwhile keeps its own due.
  const clearScrubDue = db.prepare(
    'UPDATE ingest_progress SET scrub_through = 0 WHERE id = 1 AND scrub_through <= ?',
  );
  /**
   * Records the scrub through `through` as done; false if a lock was in the way (the next idle
   * moment scrubs again, which then finds little to do). After the scrub: a crash between the two
   * only scrubs once more at the next start.
   */
  // Under the write lock, and only while homing.db's WAL is still as the scrub left it (empty):
  // an erasure that committed since (its due no higher than ours, so the clear would take it
  // too) wrote its deletions there, which the next idle moment's scrub then takes.
  const clearScrubDueIfUntouched = db.transaction((through: number): boolean => {
    if (fileSize(`${d.path}-wal`) !== 0) return false;
    clearScrubDue.run(through);
    return true;
  });
  const scrubDone = (through: number): boolean => {
    takeTurn();
    try {
      return clearScrubDueIfUntouched.immediate(through);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return false;
      throw err;
    } finally {
      releaseTurn();
    }
  };
  /**
   * The scrub, at a moment with nothing to expand: answers whether it is done. Not yet while the
   * store has not deleted the rows the erasure saw (it does after their progress report), nor when
   * work arrived or a reader or writer was in the way: the next idle moment tries again.
   */
  const scrub = (seen: number): boolean => {
    if (logHoldsThrough.get(scrubThrough) !== undefined) return false;
    shrink(seen, true, 0);
    return (
      logDb.pragma('freelist_count', { simple: true }) === 0 &&
      fileSize(`${d.logPath}-wal`) === 0 &&
      fileSize(`${d.path}-wal`) === 0
    );
  };

  let deadline = Infinity;
  /** The last sleep ran its whole poll period: nobody woke the worker. */
  let quiet = false;
  let stopping = false;
  /**
   * Events the next chunk may take: all of `chunkEvents` while running; while stopping, what
   * the last chunk's rate fits in the budget left (a whole chunk, 80 000 events by default, can
   * take seconds, and the deadline is only looked at between chunks), and a small first chunk
   * to measure by when there was none. 0: nothing fits any more.
   */
  const chunkLimit = (): number => {
    if (!stopping) return d.chunkEvents;
    if (msPerEvent === 0) return Math.min(d.chunkEvents, 1000);
    return Math.min(d.chunkEvents, Math.floor((deadline - Date.now()) / msPerEvent));
  };
  for (;;) {
    for (let m = wt.receiveMessageOnPort(d.port); m !== undefined; m = wt.receiveMessageOnPort(d.port)) {
      const cmd = m.message as ExpanderCommand;
      if (cmd.type === 'stop' && !stopping) {
        stopping = true;
        deadline = Date.now() + cmd.budgetMs;
      } else if (cmd.type === 'scrub') scrubThrough = Math.max(scrubThrough, cmd.through);
    }
    if (stopping && Date.now() >= deadline) break;
    const limit = chunkLimit();
    if (limit < 1) break;
    const seen = Atomics.load(s, slot.wake);
    try {
      const r = expandOne(limit);
      if (r.damaged.length > 0) post({ type: 'damaged', rows: r.damaged });
      post({ type: 'progress', through: r.through });
      // The log file's checkpoints run here, off the store's event loop (copying the WAL back
      // and syncing took tens of ms there at every autocheckpoint); the store's own
      // autocheckpoint is only a backstop.
      checkpointLog(logDb, holdFrames, (fn) => holdLog(s, slot, fn));
      // The filter is of no use once stopping: it ends with this worker.
      if (scanning && !stopping) scanning = !scanSlice();
      if (r.more || (scanning && !stopping)) continue;
      if (stopping) break;
      scrubThrough = Math.max(scrubThrough, selectScrubDue.get() ?? 0);
      if (scrubThrough > 0 && scrub(seen) && scrubDone(scrubThrough)) {
        post({ type: 'scrubbed', through: scrubThrough });
        scrubThrough = 0;
      } else shrink(seen, quiet && r.n === 0, d.logVacuumFreeBytes);
      quiet = Atomics.wait(s, slot.wake, seen, d.pollMs) === 'timed-out';
    } catch (err) {
      quiet = false;
      const code = (err as { code?: unknown }).code;
      post({
        type: 'error',
        message: (err as Error).message,
        code: typeof code === 'string' ? code : null,
        wakeSeen: seen,
      });
      if (stopping) break;
      Atomics.wait(s, slot.wake, seen, d.retryMs);
    }
  }
  let leftEvents = -1;
  try {
    leftEvents = selectLeft.get(selectThrough.get() ?? 0) ?? 0;
  } catch {
    /* reported as unknown */
  }
  logDb.close();
  db.close();
  post({ type: 'stopped', leftEvents });
  d.port.close();
}
