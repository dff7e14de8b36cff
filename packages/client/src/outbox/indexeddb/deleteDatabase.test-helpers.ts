import { databaseName } from './schema.js';

/** Deletes the database of the IndexedDB outbox called `name` (tests: a clean slate after each). */
export function deleteOutboxDatabase(name: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const request = indexedDB.deleteDatabase(databaseName(name));
    request.onsuccess = () => resolve();
    request.onerror = () => resolve();
    request.onblocked = () => undefined;
  });
}
