import type Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import { checkProjectName } from './prepare-events.js';
import { keyHash, newProject, sameKey } from './project-keys.js';
import { type ProjectRow, toProject } from './sqlite-rows.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import type { KeyRole, Project } from './store.js';

/**
 * SqliteStore's projects in homing.db: creating them (taking the write turn), listing them,
 * finding one by key, and each project's pk (the column events refer to it by), cached.
 */
export class SqliteProjects {
  private readonly projectPks = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly turn: WriteTurn,
  ) {}

  async create(name: string): Promise<Project> {
    checkProjectName(name);
    const p = newProject(name);
    const pk = await this.turn.runAsync(() => this.insertProject(p));
    this.projectPks.set(p.id, pk);
    return p;
  }

  async firstOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    checkProjectName(name);
    // IMMEDIATE takes the database's write lock before the look, so another connection or
    // process doing the same waits and then finds this one's project.
    const found = await this.turn.runAsync(() =>
      this.db
        .transaction((): { project: Project; created: boolean; pk: number } => {
          const first = this.db.prepare('SELECT * FROM projects ORDER BY pk LIMIT 1').get() as
            ProjectRow | undefined;
          if (first !== undefined) return { project: toProject(first), created: false, pk: first.pk };
          const p = newProject(name);
          return { project: p, created: true, pk: this.insertProject(p) };
        })
        .immediate(),
    );
    this.projectPks.set(found.project.id, found.pk);
    return { project: found.project, created: found.created };
  }

  list(): Project[] {
    const rows = this.db.prepare('SELECT * FROM projects ORDER BY pk').all() as ProjectRow[];
    return rows.map(toProject);
  }

  findByKey(key: string): { project: Project; role: KeyRole } | null {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = this.db
      .prepare('SELECT * FROM projects WHERE write_key_hash = ? OR admin_key_hash = ?')
      .get(h, h) as ProjectRow | undefined;
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  /** The project's pk; an `unknown-project` error when there is none. */
  pk(projectId: string): number {
    const pk = this.pkOrNull(projectId);
    if (pk === null) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    return pk;
  }

  pkOrNull(projectId: string): number | null {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const pk = this.db.prepare('SELECT pk FROM projects WHERE id = ?').pluck().get(projectId) as
      number | undefined;
    if (pk === undefined) return null;
    this.projectPks.set(projectId, pk);
    return pk;
  }

  private insertProject(p: Project): number {
    const r = this.db
      .prepare(
        `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt);
    return Number(r.lastInsertRowid);
  }
}
