/**
 * The server's defaults, without the server: what `homing serve --help` shows. `homing
 * --version` and `--help` load this, not the index (Fastify, better-sqlite3, pg, prom-client:
 * most of a second of a command's start). Only modules that load nothing of that belong here.
 */
export { LISTEN_DEFAULTS, SERVER_DEFAULTS } from './serverOptions.js';
export { RETENTION_DEFAULTS } from './retention/retentionJob.js';
export { SQLITE_DEFAULTS } from './store/sqlite-options.js';
