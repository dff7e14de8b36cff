import { StoreError } from './errors.js';
import { MIGRATION_LOCK } from './postgres-apply-migrations.js';
import type { PostgresConnections } from './postgres-connections.js';
import { type ProjectRow, projectParams, toProject } from './postgres-rows.js';
import { checkProjectName } from './prepare-events.js';
import { keyHash, newProject, sameKey } from './project-keys.js';
import type { KeyRole, Project } from './store.js';

/** Key of the transaction-scoped lock under which a start on an empty database creates its project. */
const FIRST_PROJECT_LOCK = MIGRATION_LOCK + 1;
const INSERT_PROJECT = `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pk`;

/**
 * PostgresStore's projects: creating them (the first one once among every process starting on an
 * empty database), listing them, finding one by key, and each project's pk (the column events
 * refer to it by), cached.
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
      const first = (await query<ProjectRow>('SELECT * FROM projects ORDER BY pk LIMIT 1')).rows[0];
      if (first !== undefined) return { project: toProject(first), created: false, pk: first.pk };
      const p = newProject(name);
      const r = await query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
      return { project: p, created: true, pk: r.rows[0]!.pk };
    });
    if (result.created) this.projectPks.set(result.project.id, result.pk);
    return { project: result.project, created: result.created };
  }

  async list(): Promise<Project[]> {
    return (await this.connections.query<ProjectRow>('SELECT * FROM projects ORDER BY pk')).rows.map(
      toProject,
    );
  }

  async findByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = (
      await this.connections.query<ProjectRow>(
        'SELECT * FROM projects WHERE write_key_hash = $1 OR admin_key_hash = $1',
        [h],
      )
    ).rows[0];
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  /** The project's pk; an `unknown-project` error when there is none. */
  async pk(projectId: string): Promise<string> {
    const pk = await this.pkOrNull(projectId);
    if (pk === null) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    return pk;
  }

  async pkOrNull(projectId: string): Promise<string | null> {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const r = await this.connections.query<{ pk: string }>('SELECT pk FROM projects WHERE id = $1', [
      projectId,
    ]);
    const pk = r.rows[0]?.pk ?? null;
    if (pk !== null) this.projectPks.set(projectId, pk);
    return pk;
  }
}
