import { createServer } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { logThrottle } from './logThrottle.js';
import {
  checkRetentionOptions,
  startRetentionJob,
  type RetentionJob,
  type RetentionJobOptions,
} from './retention/retentionJob.js';
import { LISTEN_DEFAULTS, SERVER_DEFAULTS, ServerOptionsError, type ServerOptions } from './serverOptions.js';
import { dataDirExposure } from './store/dataDirModes.js';
import { openStore } from './store/open-store.js';
import { SQLITE_DEFAULTS } from './store/sqlite-options.js';
import type { StoreError } from './store/errors.js';
import type { Store } from './store/store.js';
import type { StoreNotice } from './store/sqlite-backlog-notice.js';

export interface StartServerOptions extends Omit<ServerOptions, 'store'> {
  /** Default 127.0.0.1 (only this machine); 0.0.0.0 to listen on every interface. */
  host?: string;
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** SQLite directory when no databaseUrl. Default `./.homing`. */
  dataDir?: string;
  /** `postgres://…` for PostgreSQL; absent or empty for SQLite in dataDir. */
  databaseUrl?: string;
  /** A store of the caller's instead of opening one; the caller closes it. */
  store?: Store;
  /** Days events are kept; 0 keeps them forever. Default 90. */
  retentionDays?: number;
  /** The retention job's schedule (interval, first run delay, batch size). */
  retention?: Pick<RetentionJobOptions, 'intervalMs' | 'firstRunDelayMs' | 'batchSize'>;
  /**
   * SQLite: the longest shutdown spends expanding the ingest log's backlog into the events
   * table, ms, after requests finished; the rest is expanded at the next start (and logged at
   * shutdown). Default 10 000. Not used with PostgreSQL or a store of the caller's.
   */
  closeExpandBudgetMs?: number;
  /**
   * SQLite: unexpanded events the ingest log may hold before ingest waits for expansion, and the
   * WAL pages before a checkpoint (the store options of these names, defaults 1 000 000 and
   * 16 000: 64 MiB per WAL). A small data disk lowers both: expanding a backlog needs room for
   * it twice (see the store README). Not used with PostgreSQL or a store of the caller's.
   */
  maxPendingEvents?: number;
  walAutocheckpointPages?: number;
  /**
   * SQLite: the page cache of each of the two connections to homing.db, MiB (default 256; the
   * store option of that name). Lower it for a small machine or container.
   */
  cacheSizeMiB?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  store: Store;
  retention: RetentionJob;
  /** `http://host:port` the server listens on. */
  url: string;
  port: number;
  /**
   * Graceful shutdown: stop accepting, answer 503 to requests that still arrive on open
   * connections, let requests in flight finish, stop retention, close the store it opened.
   * Idempotent.
   */
  close(): Promise<void>;
}

export type ServerStartErrorKind = 'port-in-use' | 'permission-denied' | 'listen';

/** Listening failed; the store and everything else started was closed again. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  constructor(
    readonly kind: ServerStartErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Opens the store (SQLite by default), builds the server, starts retention and listens. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? LISTEN_DEFAULTS.host;
  const port = options.port ?? LISTEN_DEFAULTS.port;
  if (typeof host !== 'string' || host === '')
    throw new ServerOptionsError('host', 'must be a host name or address');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ServerOptionsError('port', 'must be an integer from 0 to 65535');
  }
  const retentionDays = options.retentionDays ?? LISTEN_DEFAULTS.retentionDays;
  // Before the store opens: a mistyped retention neither creates a data directory nor waits for
  // PostgreSQL before it is reported.
  checkRetentionOptions({ retentionDays, ...options.retention });
  const ownStore = options.store === undefined;
  // Before the store opens: a port in use or an address this machine lacks would otherwise
  // leave a new, empty data directory and database behind.
  if (ownStore) await checkCanListen(host, port);
  let app: FastifyInstance | undefined;
  // The store's notices come from its opening (a backlog, another server on the data directory),
  // before the app and its logger exist: kept until it does.
  const early: StoreNotice[] = [];
  const notice = (n: StoreNotice): void => {
    if (app === undefined) early.push(n);
    else app.log[n.level](n.fields, n.message);
  };
  const store =
    options.store ??
    (await openStore({
      databaseUrl: options.databaseUrl,
      dataDir: options.dataDir ?? LISTEN_DEFAULTS.dataDir,
      maxPropertiesChars: storePropertiesLimit(options.maxEventBytes ?? SERVER_DEFAULTS.maxEventBytes),
      // The store logs nothing itself; its background failures go to the server's log (the app
      // is built right after the store opens, before its first background look).
      onBackgroundError: backgroundErrorLog(() => app?.log),
      ...(options.closeExpandBudgetMs === undefined
        ? {}
        : { closeExpandBudgetMs: options.closeExpandBudgetMs }),
      ...(options.maxPendingEvents === undefined ? {} : { maxPendingEvents: options.maxPendingEvents }),
      ...(options.walAutocheckpointPages === undefined
        ? {}
        : { walAutocheckpointPages: options.walAutocheckpointPages }),
      ...(options.cacheSizeMiB === undefined ? {} : { cacheSizeMiB: options.cacheSizeMiB }),
      onClosedWithBacklog: (events) =>
        app?.log.warn(
          { events, closeExpandBudgetMs: options.closeExpandBudgetMs ?? SQLITE_DEFAULTS.closeExpandBudgetMs },
          'store closed with events still in the ingest log: the next start expands them before queries see them',
        ),
      onFilesChanged: (message) =>
        app?.log.error({ kind: 'data-dir', message }, 'data directory changed under the store'),
      onNotice: notice,
      // close() below gives requests and the retention batch in flight shutdownGraceMs first;
      // what still runs on the store after that is cancelled at once.
      closeTimeoutMs: 0,
    }));
  let retention: RetentionJob | undefined;
  try {
    const {
      host: _h,
      port: _p,
      dataDir: _d,
      databaseUrl: _u,
      retention: ro,
      closeExpandBudgetMs: _c,
      maxPendingEvents: _m,
      walAutocheckpointPages: _w,
      cacheSizeMiB: _cs,
      ...rest
    } = options;
    // The job's period (default 90 days) reaches ingest too: it stores at their receive time the
    // events already older than it, which the job below would delete at its next run.
    app = buildServer({ ...rest, retentionDays, store });
    for (const n of early.splice(0)) notice(n);
    if (ownStore && (options.databaseUrl?.trim() ?? '') === '') {
      // Once, at start: other local users who can read homing.db can read every admin key.
      const exposed = dataDirExposure(options.dataDir ?? LISTEN_DEFAULTS.dataDir);
      if (exposed !== null) {
        const { message, ...fields } = exposed;
        app.log.warn(fields, message);
      }
    }
    retention = startRetentionJob({
      store,
      retentionDays,
      logger: app.log,
      ...ro,
    });
    await app.listen({ host, port }).catch((err: unknown) => {
      throw listenError(err, host, port);
    });
  } catch (err) {
    await retention?.stop();
    await app?.close().catch(() => {});
    if (ownStore) await store.close().catch(() => {});
    throw err;
  }
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const started = { app, retention };
  let closing: Promise<void> | null = null;
  return {
    app,
    store,
    retention,
    url: `http://${urlHost}:${boundPort}`,
    port: boundPort,
    close() {
      closing ??= (async () => {
        const stopped = Promise.all([started.app.close(), started.retention.stop()]);
        if (ownStore) {
          // Requests in flight get shutdownGraceMs (the app then closes their connections), and
          // so does the retention batch in flight; the store is closed a little before that even
          // if one of them is still waiting for it (a statement stuck behind a lock):
          // PostgreSQL's close cancels what still runs (it rolls back), and the requests it held
          // answer 503 + Retry-After while their connections are still open (closed at the same
          // moment, they got a reset instead), so shutdown ends about then.
          let grace: NodeJS.Timeout | undefined;
          const graceOver = new Promise<void>((resolve) => {
            grace = setTimeout(
              resolve,
              storeCloseAfterMs(options.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs),
            );
          });
          await Promise.race([stopped, graceOver]);
          clearTimeout(grace);
          await store.close();
        }
        await stopped;
      })();
      return closing;
    },
  };
}

/**
 * When, in the grace period, startServer closes its store: a quarter of it (at most a second)
 * before the app closes the connections still open, so requests whose statements the close
 * cancels can still answer.
 */
export function storeCloseAfterMs(shutdownGraceMs: number): number {
  return shutdownGraceMs - Math.min(1_000, Math.floor(shutdownGraceMs / 4));
}

/** At most one log line per failure code per this long, ms: a failing expansion retries every second. */
export const BACKGROUND_ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * Logs failures of the store's background work (PostgreSQL's second deletions, SQLite's log
 * expansion) by kind, SQLSTATE or SQLite code, and the store's message, which names no event
 * content or distinct id; never the error object, whose fields (`detail`, `where`, a cause) may
 * quote a row. Background work retries on its own, so a failure that lasts would log a line a
 * second: one line per code per minute at most, with how many were left out since.
 */
function backgroundErrorLog(log: () => FastifyBaseLogger | undefined): (err: StoreError) => void {
  const throttle = logThrottle(BACKGROUND_ERROR_LOG_INTERVAL_MS);
  return (err) => {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    const skipped = throttle(`${err.kind}:${typeof code === 'string' ? code : ''}`);
    if (skipped === null) return;
    log()?.error(
      {
        kind: err.kind,
        ...(typeof code === 'string' ? { code } : {}),
        message: err.message,
        ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}),
      },
      'store background work failed; it is tried again',
    );
  };
}

/**
 * The store's own guard on an event's serialized properties, for the store startServer opens:
 * never below what maxEventBytes lets through. The server measures UTF-8 bytes without JSON's
 * escapes, the store the escaped JSON in characters, which escaping makes up to 6 times longer
 * (`\u0001`); the server's limit is the one that applies.
 */
function storePropertiesLimit(maxEventBytes: unknown): number | undefined {
  if (typeof maxEventBytes !== 'number' || !Number.isSafeInteger(maxEventBytes) || maxEventBytes < 1) {
    return undefined; // buildServer names the option.
  }
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(2, 6 * maxEventBytes));
}

/**
 * Binds host:port and lets go at once. Another process may still take the port before the
 * server listens; that rare case is reported by listen itself, after the store opened.
 */
async function checkCanListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(listenError(err, host, port)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function listenError(err: unknown, host: string, port: number): ServerStartError {
  const code = (err as { code?: unknown }).code;
  if (code === 'EADDRINUSE') {
    return new ServerStartError(
      'port-in-use',
      `port ${port} on ${host} is already in use: stop the other process, or pick another port with --port / HOMING_PORT`,
      { cause: err },
    );
  }
  if (code === 'EACCES') {
    return new ServerStartError(
      'permission-denied',
      `not allowed to listen on ${host}:${port}: ports below 1024 need privileges; pick another with --port / HOMING_PORT`,
      { cause: err },
    );
  }
  return new ServerStartError('listen', `could not listen on ${host}:${port}: ${(err as Error).message}`, {
    cause: err,
  });
}
