/**
 * What to do when PostgreSQL cancelled a statement that waited past its bound (a StoreError of
 * kind `timeout`): nearly always a lock held by another session, sometimes an overloaded server.
 */
export const LOCK_HINT =
  "another session may hold a lock on Homing's tables (look in pg_locks / pg_stat_activity) or the database is overloaded; try again once it is free";

/**
 * What to do when the disk under the database is full (a StoreError of kind `disk-full`): free
 * room. Never "move the files aside": they hold events the server already acknowledged.
 */
export function diskFullHint(dataDir: string): string {
  return `free room on the disk that holds ${dataDir} (df -h shows it), then try again; do not move or delete the database files`;
}
