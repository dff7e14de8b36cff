import { StoreError } from './errors.js';
import { checkErasureQuery } from './prepare-events.js';
import { checkKeysToRotate } from './project-keys.js';
import type {
  ErasureQuery,
  ErasureRecord,
  EventQuery,
  IngestEvent,
  InsertResult,
  KeyRole,
  KeysToRotate,
  Project,
  ProjectRemoval,
  StatsQuery,
  StatsResult,
  Store,
  StoredEvent,
} from './store.js';

/**
 * Accepts every batch and stores nothing: the ceiling row of the ingest benchmarks (what the
 * server costs with a store that costs nothing). Never use it to keep data. It checks nothing
 * and counts every event accepted; it knows one fixed project so requests authenticate.
 */
export class NoopStore implements Store {
  readonly project: Project;
  private closed = false;

  constructor(project?: Partial<Project>) {
    this.project = {
      id: project?.id ?? 'noop',
      name: project?.name ?? 'noop',
      writeKey: project?.writeKey ?? 'hw_noop',
      adminKey: project?.adminKey ?? 'ha_noop',
      createdAt: project?.createdAt ?? new Date(0).toISOString(),
    };
  }

  async migrate(): Promise<void> {}
  async ping(): Promise<void> {
    this.assertOpen();
  }
  async createProject(name: string): Promise<Project> {
    this.assertOpen();
    return { ...this.project, name };
  }
  async firstProjectOrCreate(): Promise<{ project: Project; created: boolean }> {
    this.assertOpen();
    return { project: this.project, created: false };
  }
  async listProjects(): Promise<Project[]> {
    return [this.project];
  }
  async findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    if (key === this.project.writeKey) return { project: this.project, role: 'write' };
    if (key === this.project.adminKey) return { project: this.project, role: 'admin' };
    return null;
  }
  /** Its one project's keys are fixed (they are its options): nothing to rotate or remove. */
  async rotateProjectKeys(_projectId: string, which: KeysToRotate): Promise<Project> {
    this.assertOpen();
    checkKeysToRotate(which);
    throw new StoreError('invalid-input', "the noop store's keys are fixed: pass others to its constructor");
  }
  async removeProject(): Promise<ProjectRemoval> {
    this.assertOpen();
    throw new StoreError('invalid-input', "the noop store's project cannot be removed");
  }
  async keysVersion(): Promise<number> {
    return 0;
  }
  async insertEvents(_projectId: string, events: readonly IngestEvent[]): Promise<InsertResult> {
    this.assertOpen();
    return { accepted: events.length, duplicates: 0, erased: 0 };
  }
  async queryEvents(_q: EventQuery): Promise<StoredEvent[]> {
    return [];
  }
  async *personEvents(): AsyncIterable<StoredEvent> {}
  async erasePerson(): Promise<number> {
    return 0;
  }
  async listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    checkErasureQuery(q);
    return [];
  }
  async deleteEventsBefore(): Promise<number> {
    return 0;
  }
  async stats(_q: StatsQuery): Promise<StatsResult> {
    return { buckets: [], otherNames: 0 };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  private assertOpen(): void {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
  }
}
