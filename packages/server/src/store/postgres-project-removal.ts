import { nextBatchSize } from './batchSizer.js';
import { StoreError } from './errors.js';
import type { PostgresConnections } from './postgres-connections.js';
import type { PostgresProjects } from './postgres-projects.js';
import { retryingDeadlocks } from './postgres-retry.js';
import type { ProjectRemoval, RemoveProjectOptions } from './store.js';
import type { Suppressions } from './suppressions.js';

/** A removal's statements: about 30 ms each, so no lock they take is held for long. */
const REMOVAL_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;
/** Rounds of deletion before rows that keep appearing are reported instead of chased. */
const MAX_ROUNDS = 3;

/**
 * The project's rows, table by table; `$1` is its pk, `$2` the batch size. Rows another
 * transaction holds (a retention run, an erasure's second deletion) are skipped, not waited
 * for: that one deletes them, or the next round does (the project's row goes only once no row
 * names it).
 */
const DELETIONS = {
  events: `DELETE FROM events WHERE ctid IN
             (SELECT ctid FROM events WHERE project_pk = $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  erasures: `DELETE FROM erasures WHERE id IN
               (SELECT id FROM erasures WHERE project_pk = $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  suppressions: `DELETE FROM suppressions WHERE id IN
                   (SELECT id FROM suppressions WHERE project_pk = $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  erasedKeys: `DELETE FROM erased_keys WHERE (project_pk, key) IN
                 (SELECT project_pk, key FROM erased_keys WHERE project_pk = $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
} as const;

const COUNTS = `SELECT
    (SELECT count(*) FROM events WHERE project_pk = $1) AS events,
    (SELECT count(*) FROM erasures WHERE project_pk = $1) AS erasures,
    (SELECT count(*) FROM suppressions WHERE project_pk = $1) AS suppressions,
    (SELECT count(*) FROM erased_keys WHERE project_pk = $1) AS erased_keys`;

const DELETE_IF_BARE = `DELETE FROM projects WHERE pk = $1
    AND NOT EXISTS (SELECT 1 FROM events WHERE project_pk = $1)
    AND NOT EXISTS (SELECT 1 FROM erasures WHERE project_pk = $1)
    AND NOT EXISTS (SELECT 1 FROM suppressions WHERE project_pk = $1)
    AND NOT EXISTS (SELECT 1 FROM erased_keys WHERE project_pk = $1)`;

/**
 * PostgresStore's `removeProject`: marks the project removed (postgres-projects.ts; from that
 * commit on no batch insert of any process stores anything for it, see postgres-batch-write.ts),
 * then deletes its rows table by table in statements sized by time, each under the bound for
 * long work, and last the project's row, once no row names it. Identity pks are never handed
 * out again.
 */
export class PostgresProjectRemoval {
  /** Each table's next batch size (their rows cost differently: events touch three indexes). */
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly connections: PostgresConnections,
    private readonly projects: PostgresProjects,
    /** The store's suppression entries in memory: the project's are dropped with it. */
    private readonly suppressions: Suppressions,
  ) {}

  async remove(projectId: string, options: RemoveProjectOptions = {}): Promise<ProjectRemoval> {
    const dryRun = options.dryRun === true;
    const target = await this.projects.removalTarget(projectId, !dryRun);
    if (target === undefined) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    const { pk, project } = target;
    const counted = (
      await this.connections.longQuery<{
        events: string;
        erasures: string;
        suppressions: string;
        erased_keys: string;
      }>(COUNTS, [pk])
    ).rows[0]!;
    const removal: ProjectRemoval = {
      project,
      events: Number(counted.events),
      erasures: Number(counted.erasures),
      suppressions: Number(counted.suppressions),
      erasedKeys: Number(counted.erased_keys),
      pendingEvents: 0,
    };
    if (dryRun) return removal;
    try {
      return await this.deleteRows(pk, project.id, removal, options);
    } finally {
      // Marked removed, the project has no use for them even if the deletion broke off.
      this.suppressions.forget(project.id);
    }
  }

  private async deleteRows(
    pk: string,
    projectId: string,
    removal: ProjectRemoval,
    options: RemoveProjectOptions,
  ): Promise<ProjectRemoval> {
    let deletedEvents = 0;
    const onEvents = (n: number): void => {
      deletedEvents += n;
      options.onProgress?.(deletedEvents, Math.max(removal.events, deletedEvents));
    };
    for (let round = 1; ; round++) {
      await this.deleteAll('events', pk, onEvents);
      await this.deleteAll('erasures', pk);
      await this.deleteAll('suppressions', pk);
      await this.deleteAll('erasedKeys', pk);
      const gone = await this.connections.longQuery(DELETE_IF_BARE, [pk]);
      if ((gone.rowCount ?? 0) > 0) break;
      const still = await this.connections.query('SELECT 1 FROM projects WHERE pk = $1', [pk]);
      // Another removal of the same project finished first.
      if (still.rows.length === 0) break;
      if (round >= MAX_ROUNDS)
        throw new StoreError(
          'storage',
          `rows of project ${projectId} were still being written after ${MAX_ROUNDS} rounds of ` +
            'deletion (a Homing older than schema version 5 serving this database?): stop it and ' +
            'run the removal again',
        );
    }
    removal.events = Math.max(removal.events, deletedEvents);
    return removal;
  }

  /** Deletes every row of `table` naming `pk`, a statement a batch; `onBatch` gets each count. */
  private async deleteAll(
    table: keyof typeof DELETIONS,
    pk: string,
    onBatch?: (n: number) => void,
  ): Promise<void> {
    for (;;) {
      this.connections.assertOpen();
      const size = this.sizes.get(table) ?? REMOVAL_BATCH.min;
      const t0 = performance.now();
      const r = await retryingDeadlocks(this.connections, () =>
        this.connections.longQuery(DELETIONS[table], [pk, size]),
      );
      const ms = performance.now() - t0;
      const n = r.rowCount ?? 0;
      if (n > 0) onBatch?.(n);
      if (n === size || (n > 0 && ms > REMOVAL_BATCH.targetMs))
        this.sizes.set(table, nextBatchSize(n, ms, REMOVAL_BATCH));
      if (n < size) return;
    }
  }
}
