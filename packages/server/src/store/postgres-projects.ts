import { StoreError } from './errors.js';
import { MIGRATION_LOCK } from './postgres-apply-migrations.js';
import type { PostgresConnections, TxQuery } from './postgres-connections.js';
import { type ProjectRow, projectParams, toProject } from './postgres-rows.js';
import { checkProjectName } from './prepare-events.js';
import { keyHash, newProject, sameKey, withNewKeys } from './project-keys.js';
import type { KeyRole, KeysToRotate, Project } from './store.js';

/** Key of the transaction-scoped lock under which a start on an empty database creates its project. */
const FIRST_PROJECT_LOCK = MIGRATION_LOCK + 1;
/** A new project and the new keys version (Store.keysVersion), in one statement. */
const INSERT_PROJECT = `WITH created AS (
         INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pk
       ), bumped AS (UPDATE keys_version SET version = version + 1 WHERE id = 1)
       SELECT pk FROM created`;
const BUMP_KEYS_VERSION = 'UPDATE keys_version SET version = version + 1 WHERE id = 1';

/**
 * PostgresStore's projects: creating them (the first one once among every process starting on an
 * empty database), listing them, finding one by key, replacing their keys, marking them removed,
 * and each project's pk (the column events refer to it by), cached. A project marked removed
 * (`removed_at`) is invisible to all of these; its row stays until its data is deleted
 * (postgres-project-removal.ts).
 */
export class PostgresProjects {
  private readonly projectPks = new Map<string, string>();

  constructor(private readonly connections: PostgresConnections) {}

  async create(name: string): Promise<Project> {
    checkProjectName(name);
    const p = newProject(name);
    const r = await this.connections.query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
    this.projectPks.set(p.id, r.rows[0]!.pk);
    return p;
  }

  async firstOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    checkProjectName(name);
    const result = await this.connections.inTransaction(async (query) => {
      // Held until COMMIT, so the next process to get it already sees this one's project (each
      // statement of a READ COMMITTED transaction reads what was committed before it began).
      await query('SELECT pg_advisory_xact_lock($1)', [FIRST_PROJECT_LOCK]);
      const first = (
        await query<ProjectRow>('SELECT * FROM projects WHERE removed_at IS NULL ORDER BY pk LIMIT 1')
      ).rows[0];
      if (first !== undefined) return { project: toProject(first), created: false, pk: first.pk };
      const p = newProject(name);
      const r = await query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
      return { project: p, created: true, pk: r.rows[0]!.pk };
    });
    if (result.created) this.projectPks.set(result.project.id, result.pk);
    return { project: result.project, created: result.created };
  }

  async list(): Promise<Project[]> {
    return (
      await this.connections.query<ProjectRow>('SELECT * FROM projects WHERE removed_at IS NULL ORDER BY pk')
    ).rows.map(toProject);
  }

  async findByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = (
      await this.connections.query<ProjectRow>(
        'SELECT * FROM projects WHERE (write_key_hash = $1 OR admin_key_hash = $1) AND removed_at IS NULL',
        [h],
      )
    ).rows[0];
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  /** New random keys in place of those `which` names; `unknown-project` for none (or removed). */
  async rotateKeys(projectId: string, which: KeysToRotate): Promise<Project> {
    const rotated = await this.connections.inTransaction(async (query) => {
      const row = await this.lockRow(query, projectId);
      if (row === undefined || row.removed_at !== null) return null;
      const p = withNewKeys(toProject(row), which);
      await query(
        `UPDATE projects SET write_key = $2, admin_key = $3, write_key_hash = $4, admin_key_hash = $5
         WHERE pk = $1`,
        [row.pk, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey)],
      );
      await query(BUMP_KEYS_VERSION);
      return p;
    });
    if (rotated === null) throw unknownProject(projectId);
    return rotated;
  }

  /**
   * The project's row, live or with its removal under way, or undefined when there is none;
   * `markRemoved` marks a live one removed first and forgets its pk here. The mark's UPDATE
   * waits for the batch inserts holding the row FOR SHARE (see postgres-batch-write.ts), and
   * every insert after it finds the project removed and stores nothing: what was inserted
   * before is committed, there for the removal to delete.
   */
  async removalTarget(
    projectId: string,
    markRemoved: boolean,
  ): Promise<{ pk: string; project: Project } | undefined> {
    let row: ProjectRow | undefined;
    if (!markRemoved) {
      row =
        typeof projectId === 'string'
          ? (await this.connections.query<ProjectRow>('SELECT * FROM projects WHERE id = $1', [projectId]))
              .rows[0]
          : undefined;
    } else {
      row = await this.connections.inTransaction(async (query) => {
        const found = await this.lockRow(query, projectId);
        if (found === undefined || found.removed_at !== null) return found;
        await query('UPDATE projects SET removed_at = $2 WHERE pk = $1', [
          found.pk,
          new Date().toISOString(),
        ]);
        await query(BUMP_KEYS_VERSION);
        return found;
      });
      this.projectPks.delete(projectId);
    }
    return row === undefined ? undefined : { pk: row.pk, project: toProject(row) };
  }

  async keysVersion(): Promise<number> {
    const r = await this.connections.query<{ version: string }>(
      'SELECT version FROM keys_version WHERE id = 1',
    );
    return Number(r.rows[0]!.version);
  }

  /** The project's pk; an `unknown-project` error when there is none. */
  async pk(projectId: string): Promise<string> {
    const pk = await this.pkOrNull(projectId);
    if (pk === null) throw unknownProject(projectId);
    return pk;
  }

  async pkOrNull(projectId: string): Promise<string | null> {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const r = await this.connections.query<{ pk: string }>(
      'SELECT pk FROM projects WHERE id = $1 AND removed_at IS NULL',
      [projectId],
    );
    const pk = r.rows[0]?.pk ?? null;
    if (pk !== null) this.projectPks.set(projectId, pk);
    return pk;
  }

  /** Forgets a pk found to be a removed project's (a batch insert stored nothing for it). */
  forget(projectId: string): void {
    this.projectPks.delete(projectId);
  }

  private async lockRow(query: TxQuery, projectId: string): Promise<ProjectRow | undefined> {
    if (typeof projectId !== 'string') return undefined;
    return (await query<ProjectRow>('SELECT * FROM projects WHERE id = $1 FOR UPDATE', [projectId])).rows[0];
  }
}

function unknownProject(projectId: unknown): StoreError {
  return new StoreError('unknown-project', `no project ${String(projectId)}`);
}
