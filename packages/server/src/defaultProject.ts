import type { Project, Store } from './store/store.js';

export const DEFAULT_PROJECT_NAME = 'default';

/**
 * The project a fresh server starts with: created when the store has none (first start), so
 * `homing serve` can print a write key that works at once. Answers the first project otherwise.
 * Several servers starting at once on one empty database create one project between them (the
 * store looks and creates in one locked transaction).
 */
export async function ensureDefaultProject(store: Store): Promise<{ project: Project; created: boolean }> {
  return store.firstProjectOrCreate(DEFAULT_PROJECT_NAME);
}
