import type { Project, Store } from './store/store.js';

export const DEFAULT_PROJECT_NAME = 'default';

/**
 * The project a fresh server starts with: created when the store has none (first start), so
 * `homing serve` can print a write key that works at once. Answers the first project otherwise.
 */
export async function ensureDefaultProject(store: Store): Promise<{ project: Project; created: boolean }> {
  const existing = await store.listProjects();
  if (existing.length > 0) return { project: existing[0]!, created: false };
  return { project: await store.createProject(DEFAULT_PROJECT_NAME), created: true };
}
