import type Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import { checkProjectName } from './prepare-events.js';
import { keyHash, newProject, sameKey, withNewKeys } from './project-keys.js';
import { type ProjectRow, toProject } from './sqlite-rows.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import type { KeyRole, KeysToRotate, Project } from './store.js';

/**
 * SqliteStore's projects in homing.db: creating them (taking the write turn), listing them,
 * finding one by key, replacing their keys, marking them removed, and each project's pk (the
 * column events refer to it by), cached. A project marked removed (`removed_at`) is invisible
 * to all of these; its row stays until its data is deleted (sqlite-project-removal.ts).
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
    const pk = await this.turn.runAsync(() => this.db.transaction(() => this.insertProject(p)).immediate());
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
          const first = this.db
            .prepare('SELECT * FROM projects WHERE removed_at IS NULL ORDER BY pk LIMIT 1')
            .get() as ProjectRow | undefined;
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
    const rows = this.db
      .prepare('SELECT * FROM projects WHERE removed_at IS NULL ORDER BY pk')
      .all() as ProjectRow[];
    return rows.map(toProject);
  }

  findByKey(key: string): { project: Project; role: KeyRole } | null {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = this.db
      .prepare(
        'SELECT * FROM projects WHERE (write_key_hash = ? OR admin_key_hash = ?) AND removed_at IS NULL',
      )
      .get(h, h) as ProjectRow | undefined;
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  /** New random keys in place of those `which` names; `unknown-project` for none (or removed). */
  async rotateKeys(projectId: string, which: KeysToRotate): Promise<Project> {
    const rotated = await this.turn.runAsync(() =>
      this.db
        .transaction((): Project | null => {
          const row = this.liveRow(projectId);
          if (row === undefined) return null;
          const p = withNewKeys(toProject(row), which);
          this.db
            .prepare(
              `UPDATE projects SET write_key = ?, admin_key = ?, write_key_hash = ?, admin_key_hash = ?
               WHERE pk = ?`,
            )
            .run(p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), row.pk);
          this.bumpKeysVersion();
          return p;
        })
        .immediate(),
    );
    if (rotated === null) throw unknownProject(projectId);
    return rotated;
  }

  /**
   * The project's row, live or with its removal under way, or undefined when there is none;
   * `markRemoved` marks a live one removed first (one commit, which every later expansion,
   * key lookup and listing sees) and forgets its pk here.
   */
  async removalTarget(
    projectId: string,
    markRemoved: boolean,
  ): Promise<{ pk: number; project: Project } | undefined> {
    const find = (): ProjectRow | undefined =>
      typeof projectId === 'string'
        ? (this.db.prepare('SELECT * FROM projects WHERE id = ?').get(projectId) as ProjectRow | undefined)
        : undefined;
    const row = !markRemoved
      ? find()
      : await this.turn.runAsync(() =>
          this.db
            .transaction((): ProjectRow | undefined => {
              const found = find();
              if (found === undefined || found.removed_at !== null) return found;
              this.db
                .prepare('UPDATE projects SET removed_at = ? WHERE pk = ?')
                .run(new Date().toISOString(), found.pk);
              this.bumpKeysVersion();
              return found;
            })
            .immediate(),
        );
    if (markRemoved) this.projectPks.delete(projectId);
    return row === undefined ? undefined : { pk: row.pk, project: toProject(row) };
  }

  keysVersion(): number {
    return this.db.prepare('SELECT version FROM keys_version WHERE id = 1').pluck().get() as number;
  }

  /** The project's pk; an `unknown-project` error when there is none. */
  pk(projectId: string): number {
    const pk = this.pkOrNull(projectId);
    if (pk === null) throw unknownProject(projectId);
    return pk;
  }

  pkOrNull(projectId: string): number | null {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const pk = this.db
      .prepare('SELECT pk FROM projects WHERE id = ? AND removed_at IS NULL')
      .pluck()
      .get(projectId) as number | undefined;
    if (pk === undefined) return null;
    this.projectPks.set(projectId, pk);
    return pk;
  }

  private liveRow(projectId: string): ProjectRow | undefined {
    if (typeof projectId !== 'string') return undefined;
    return this.db.prepare('SELECT * FROM projects WHERE id = ? AND removed_at IS NULL').get(projectId) as
      ProjectRow | undefined;
  }

  /** Call it inside a transaction: the new row and the new keys version commit together. */
  private insertProject(p: Project): number {
    const r = this.db
      .prepare(
        `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt);
    this.bumpKeysVersion();
    return Number(r.lastInsertRowid);
  }

  private bumpKeysVersion(): void {
    this.db.prepare('UPDATE keys_version SET version = version + 1 WHERE id = 1').run();
  }
}

function unknownProject(projectId: unknown): StoreError {
  return new StoreError('unknown-project', `no project ${String(projectId)}`);
}
