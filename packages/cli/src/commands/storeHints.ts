/**
 * What to do when PostgreSQL cancelled a statement that waited past its bound (a StoreError of
 * kind `timeout`): nearly always a lock held by another session, sometimes an overloaded server.
 */
export const LOCK_HINT =
  "another session may hold a lock on Homing's tables (look in pg_locks / pg_stat_activity) or the database is overloaded; try again once it is free";
