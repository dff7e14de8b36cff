export type * from './store.js';
export { StoreError, StoreInputError, type StoreErrorKind } from './errors.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { SQLITE_DEFAULTS } from './sqlite-options.js';
export { PostgresStore, POSTGRES_DEFAULTS, type PostgresStoreOptions } from './postgres.js';
export { NoopStore } from './noop.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
