import type { MessagePort } from 'node:worker_threads';

/** What the store passes to the worker (structured-cloned; `port` and `shared` are shared). */
export interface ExpanderWorkerData {
  /** Resolved path of better-sqlite3, so the worker loads the same module the store does. */
  sqliteModule: string;
  path: string;
  synchronous: 'normal' | 'full';
  cacheSizeMiB: number;
  walAutocheckpointPages: number;
  busyTimeoutMs: number;
  chunkEvents: number;
  pollMs: number;
  retryMs: number;
  /** The write turn (see sqlite-write-turn.ts) and its slot numbers. */
  shared: Int32Array;
  slots: { holder: number; ingestWaiting: number; wake: number };
  /** Messages from the store, read synchronously between chunks. */
  port: MessagePort;
}

/** Messages the worker posts to the store. */
export type ExpanderReport =
  /**
   * Every log row with id ≤ through is in `events` (ids only grow, and expansion takes the
   * oldest rows first, so the rows gone are a prefix, whichever connection expanded them).
   */
  | { type: 'progress'; through: number }
  /** `wakeSeen`: the wake counter when the failed attempt began (older requests only fail). */
  | { type: 'error'; message: string; code: string | null; wakeSeen: number }
  /** The store asked it to stop; `left` is whether log rows remain for the next start. */
  | { type: 'stopped'; left: boolean };

/** Messages the store posts to the worker. */
export type ExpanderCommand = { type: 'stop'; budgetMs: number };

/**
 * The expander worker's whole program. It runs in a `worker_threads` worker started with
 * `eval` from this function's source text, so it works the same from the TypeScript sources
 * (tests) and from the built JavaScript: it must not refer to anything outside its body, and
 * loads what it needs through the `require` it is given.
 *
 * Loop: take the write turn (giving way while the ingest thread waits for it), move the oldest
 * log rows into `events` in one short transaction (INSERT OR IGNORE sorted by key, then delete
 * those rows: a crash leaves either the rows or the events), release the turn, report. With
 * nothing to do it sleeps until woken or `pollMs` (rows other processes append).
 */
export function expanderWorkerMain(req: NodeRequire): void {
  const wt = req('node:worker_threads') as typeof import('node:worker_threads');
  const d = wt.workerData as ExpanderWorkerData;
  const parent = wt.parentPort!;
  const post = (m: ExpanderReport): void => parent.postMessage(m);
  const Database = req(d.sqliteModule) as typeof import('better-sqlite3');
  const s = d.shared;
  const slot = d.slots;

  const db = new Database(d.path, { timeout: d.busyTimeoutMs });
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${d.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`cache_size = ${-d.cacheSizeMiB * 1024}`);
  db.pragma(`wal_autocheckpoint = ${d.walAutocheckpointPages}`);
  db.pragma('temp_store = MEMORY');

  type Row = [string | null, string, string, number, string | null, string, string];
  const FIELDS = 7;
  // Payloads: a leading NUL then 7 NUL-separated fields per event (see sqlite-ingest-log.ts);
  // without the leading NUL, the JSON arrays an older version wrote.
  const decode = (payload: string): Row[] => {
    if (payload.charCodeAt(0) !== 0) return JSON.parse(payload) as Row[];
    const f = payload.split('\0');
    const rows: Row[] = new Array((f.length - 1) / FIELDS);
    for (let i = 0, k = 1; i < rows.length; i++, k += FIELDS) {
      rows[i] = [
        f[k] || null,
        f[k + 1]!,
        f[k + 2]!,
        Number(f[k + 3]),
        f[k + 4] || null,
        f[k + 5]!,
        f[k + 6]!,
      ];
    }
    return rows;
  };

  const selectChunk = db.prepare<[], { id: number; project_pk: number; keys: Buffer; payload: string }>(
    'SELECT id, project_pk, keys, payload FROM ingest_log ORDER BY id',
  );
  const insertEvent = db.prepare(
    `INSERT OR IGNORE INTO events
       (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const deleteUpTo = db.prepare('DELETE FROM ingest_log WHERE id <= ?');
  const selectMinId = db.prepare<[], number | null>('SELECT min(id) FROM ingest_log').pluck();
  const selectLastAssigned = db
    .prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'ingest_log'")
    .pluck();
  // Inside the transaction: the oldest row left, or (log empty) the last id ever assigned.
  const expandedThrough = (): { through: number; more: boolean } => {
    const min = selectMinId.get() ?? null;
    return min !== null
      ? { through: min - 1, more: true }
      : { through: selectLastAssigned.get() ?? 0, more: false };
  };

  const expandTx = db.transaction((): { through: number; more: boolean } => {
    const entries: { pk: number; key: Buffer; row: Row }[] = [];
    let lastId = 0;
    for (const r of selectChunk.iterate()) {
      const rows = decode(r.payload);
      for (let j = 0; j < rows.length; j++) {
        entries.push({ pk: r.project_pk, key: r.keys.subarray(j * 16, j * 16 + 16), row: rows[j]! });
      }
      lastId = r.id;
      if (entries.length >= d.chunkEvents) break;
    }
    if (lastId === 0) return expandedThrough();
    // Sorted keys touch the unique index's pages in order, each page once per chunk.
    entries.sort((a, b) => a.pk - b.pk || Buffer.compare(a.key, b.key));
    for (const { pk, key, row } of entries) {
      insertEvent.run(pk, key, row[0], row[1], row[2], row[3], row[4], row[5], row[6]);
    }
    deleteUpTo.run(lastId);
    return expandedThrough();
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
  const expandOne = (): { through: number; more: boolean } => {
    takeTurn();
    try {
      return expandTx.immediate();
    } finally {
      releaseTurn();
    }
  };

  let deadline = Infinity;
  let stopping = false;
  for (;;) {
    for (let m = wt.receiveMessageOnPort(d.port); m !== undefined; m = wt.receiveMessageOnPort(d.port)) {
      const cmd = m.message as ExpanderCommand;
      if (cmd.type === 'stop' && !stopping) {
        stopping = true;
        deadline = Date.now() + cmd.budgetMs;
      }
    }
    if (stopping && Date.now() >= deadline) break;
    const seen = Atomics.load(s, slot.wake);
    try {
      const r = expandOne();
      post({ type: 'progress', through: r.through });
      if (r.more) continue;
      if (stopping) break;
      Atomics.wait(s, slot.wake, seen, d.pollMs);
    } catch (err) {
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
  let left = true;
  try {
    left = selectMinId.get() != null;
  } catch {
    /* reported as left */
  }
  db.close();
  post({ type: 'stopped', left });
  d.port.close();
}
