import { Option, type Command } from 'commander';
import {
  LISTEN_DEFAULTS,
  RETENTION_DEFAULTS,
  SERVER_DEFAULTS,
  SQLITE_DEFAULTS,
} from '@homing/server/defaults';
import type { ServeFlags } from './serve.js';
import { loadCommand } from './loadCommand.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Adds serve's options, each with its environment variable and default (shown by --help). */
export function addServeOptions(cmd: Command): Command {
  const opt = (flags: string, what: string, env: string, def?: string): Option => {
    const o = new Option(flags, what).env(env);
    return def === undefined ? o : o.default(def);
  };
  const rl = SERVER_DEFAULTS.rateLimit;
  return cmd
    .addOption(
      opt(
        '--port <port>',
        'port to listen on (0 picks a free one)',
        'HOMING_PORT',
        String(LISTEN_DEFAULTS.port),
      ),
    )
    .addOption(
      opt(
        '--host <host>',
        'address to listen on (0.0.0.0 for every interface)',
        'HOMING_HOST',
        LISTEN_DEFAULTS.host,
      ),
    )
    .addOption(
      opt(
        '--data-dir <dir>',
        'directory of the embedded SQLite database',
        'HOMING_DATA_DIR',
        LISTEN_DEFAULTS.dataDir,
      ),
    )
    .addOption(
      opt(
        '--database <url>',
        'PostgreSQL URL (postgres://user@host:5432/db) instead of SQLite',
        'HOMING_DATABASE_URL',
      ),
    )
    .addOption(
      opt(
        '--retention-days <days>',
        'delete events older than this many days (0 keeps them forever)',
        'HOMING_RETENTION_DAYS',
        String(RETENTION_DEFAULTS.retentionDays),
      ),
    )
    .addOption(
      opt(
        '--cors-origins <origins>',
        "origins browsers may send from, comma-separated, or '*'",
        'HOMING_CORS_ORIGINS',
        SERVER_DEFAULTS.corsOrigins,
      ),
    )
    .addOption(
      opt(
        '--max-body-bytes <bytes>',
        'largest request body after decompression',
        'HOMING_MAX_BODY_BYTES',
        String(SERVER_DEFAULTS.maxBodyBytes),
      ),
    )
    .addOption(
      opt(
        '--max-body-bytes-in-flight <bytes>',
        'bytes all ingest bodies being read at once may hold (after decompression); past it: 503 with Retry-After (default: the larger of 64 MiB and 4 x --max-body-bytes)',
        'HOMING_MAX_BODY_BYTES_IN_FLIGHT',
      ),
    )
    .addOption(
      opt(
        '--max-batch-events <events>',
        'most events one ingest request may carry; more: 413',
        'HOMING_MAX_BATCH_EVENTS',
        String(SERVER_DEFAULTS.maxBatchEvents),
      ),
    )
    .addOption(
      opt(
        '--max-event-bytes <bytes>',
        'largest single event (refused per event)',
        'HOMING_MAX_EVENT_BYTES',
        String(SERVER_DEFAULTS.maxEventBytes),
      ),
    )
    .addOption(
      opt(
        '--rate-limit <events>',
        'events per second per project, sustained, in each server process (N processes behind a load balancer allow N times this); 0 turns the limit off',
        'HOMING_RATE_LIMIT',
        String(rl.eventsPerSecond),
      ),
    )
    .addOption(
      opt(
        '--rate-limit-burst <events>',
        'events a project may send at once',
        'HOMING_RATE_LIMIT_BURST',
        String(rl.burst),
      ),
    )
    .addOption(
      opt(
        '--request-timeout-ms <ms>',
        'longest a client may take to send a whole request; later: 408 (0 turns it off)',
        'HOMING_REQUEST_TIMEOUT_MS',
        String(SERVER_DEFAULTS.requestTimeoutMs),
      ),
    )
    .addOption(
      opt(
        '--keep-alive-timeout-ms <ms>',
        'how long an idle kept-alive connection is held open between requests',
        'HOMING_KEEP_ALIVE_TIMEOUT_MS',
        String(SERVER_DEFAULTS.keepAliveTimeoutMs),
      ),
    )
    .addOption(
      opt(
        '--max-connections <n>',
        'most connections open at once; more are closed as they arrive (0: no cap)',
        'HOMING_MAX_CONNECTIONS',
        String(SERVER_DEFAULTS.maxConnections),
      ),
    )
    .addOption(
      opt(
        '--shutdown-grace-ms <ms>',
        'on SIGTERM/SIGINT/SIGHUP, how long requests in flight may finish before connections are closed',
        'HOMING_SHUTDOWN_GRACE_MS',
        String(SERVER_DEFAULTS.shutdownGraceMs),
      ),
    )
    .addOption(
      opt(
        '--close-expand-budget-ms <ms>',
        'SQLite: on shutdown, how long to keep moving acknowledged events from the ingest log into the events table; the rest is done at the next start',
        'HOMING_CLOSE_EXPAND_BUDGET_MS',
        String(SQLITE_DEFAULTS.closeExpandBudgetMs),
      ),
    )
    .addOption(
      opt(
        '--max-pending-events <n>',
        'SQLite: acknowledged events the ingest log may hold before ingest waits for them to be expanded (lower it on a small data disk: expanding a backlog needs room for it twice)',
        'HOMING_MAX_PENDING_EVENTS',
        String(SQLITE_DEFAULTS.maxPendingEvents),
      ),
    )
    .addOption(
      opt(
        '--cache-size-mib <mib>',
        'SQLite: page cache of each of the two connections to homing.db, MiB (lower it on a small machine or container; ingest of random keys slows once their index outgrows it)',
        'HOMING_CACHE_SIZE_MIB',
        String(SQLITE_DEFAULTS.cacheSizeMiB),
      ),
    )
    .addOption(
      opt(
        '--wal-autocheckpoint-pages <pages>',
        'SQLite: 4 KiB pages a write-ahead log grows to before it is checkpointed (16000: 64 MiB; lower it on a small data disk)',
        'HOMING_WAL_AUTOCHECKPOINT_PAGES',
        String(SQLITE_DEFAULTS.walAutocheckpointPages),
      ),
    )
    .addOption(
      opt('--log-level <level>', 'log level of the JSON logs on stdout', 'HOMING_LOG_LEVEL', 'info').choices(
        LOG_LEVELS,
      ),
    );
}

export function registerServe(program: Command): void {
  addServeOptions(
    program
      .command('serve')
      .description(
        'Run the Homing ingest server (SQLite in ./.homing by default, PostgreSQL with --database)',
      ),
  ).action(async (flags: ServeFlags) => {
    // Loaded only when serve runs. Every command's body is loaded in its action, not when the
    // program is built: loading them all (Fastify, better-sqlite3, pg, prom-client, the client)
    // made `homing --version` and `homing --help` take a third of a second or more.
    const { serveCommand } = await loadCommand('serve', () => import('./serve.js'));
    const code = await serveCommand(flags);
    if (code !== 0) process.exitCode = code;
  });
}
