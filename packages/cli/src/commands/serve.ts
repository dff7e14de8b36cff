import { resolve } from 'node:path';
import {
  ensureDefaultProject,
  LISTEN_DEFAULTS,
  MAX_BATCH_EVENTS,
  MAX_KEEP_ALIVE_TIMEOUT_MS,
  MAX_TIMER_MS,
  NoopStore,
  resolveServerOptions,
  RetentionOptionError,
  ServerOptionsError,
  ServerStartError,
  shutdownOnSignals,
  startServer,
  StoreError,
  type Project,
  type RunningServer,
  type StartServerOptions,
} from '@homing/server';
import { terminalText } from '../terminalText.js';
import type { CommandIo } from './outboxCommand.js';
import { CommandError, processIo, runCommand } from './outboxCommand.js';
import { shellQuoted } from './shellQuoted.js';
import { givenPath } from './givenPath.js';
import { LOCK_HINT, diskFullHint } from './storeHints.js';

/** What commander hands over: every value a string (from a flag, an env variable or the default). */
export interface ServeFlags {
  port: string;
  host: string;
  dataDir: string;
  database?: string;
  retentionDays: string;
  corsOrigins: string;
  maxBodyBytes: string;
  maxBatchEvents: string;
  maxEventBytes: string;
  rateLimit: string;
  rateLimitBurst: string;
  requestTimeoutMs: string;
  shutdownGraceMs: string;
  /** Absent when commander was not given serve's options (programmatic callers): the server's default. */
  keepAliveTimeoutMs?: string;
  /** Absent when commander was not given serve's options (programmatic callers): no cap. */
  maxConnections?: string;
  /** Absent (no flag, no env): the server's default, from --max-body-bytes. */
  maxBodyBytesInFlight?: string;
  /** Absent when commander was not given serve's options (programmatic callers): the store's default. */
  closeExpandBudgetMs?: string;
  maxPendingEvents?: string;
  walAutocheckpointPages?: string;
  cacheSizeMib?: string;
  logLevel: string;
}

/** Turns the flags into startServer options, naming the flag (and its env variable) that is wrong. */
export function serveOptionsFromFlags(f: ServeFlags): StartServerOptions & { logLevel: string } {
  // A value that came from the environment says so: the user may not know the variable is set.
  const got = (v: string, env: string): string =>
    process.env[env] === v ? `got "${v}" (from ${env})` : `got "${v}"`;
  // What to do next names the variable first when the value came from it.
  const pass = (v: string, flag: string, env: string, arg = '<n>'): string =>
    process.env[env] === v
      ? `fix or unset ${env}, or pass ${flag} ${arg}`
      : `pass ${flag} ${arg} or set ${env}`;
  const int = (v: string, flag: string, env: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    // Number() would also read '0x10', '1e3' and '' (as 0).
    const n = /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new CommandError(
        `${flag} must be an integer from ${min} to ${max}, ${got(v, env)}`,
        pass(v, flag, env),
        2,
      );
    }
    return n;
  };
  const num = (v: string, flag: string, env: string): number => {
    const n = /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < 0) {
      throw new CommandError(`${flag} must be a number ≥ 0, ${got(v, env)}`, pass(v, flag, env), 2);
    }
    return n;
  };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f.host)) {
    throw new CommandError(
      `--host is the address to listen on (127.0.0.1, 0.0.0.0, ::), not a URL: ${got(f.host, 'HOMING_HOST')}`,
      'pass --host 127.0.0.1, or unset HOMING_HOST if it holds a server URL for a client',
      2,
    );
  }
  const hostProblem =
    f.host.trim() === ''
      ? 'names no address'
      : /\s/.test(f.host)
        ? 'holds a space'
        : /^\[.*\]$/.test(f.host)
          ? 'is an IPv6 address in brackets (give it without them: ::1)'
          : /^[^:]*:\d+$/.test(f.host)
            ? 'holds a port (give the port with --port)'
            : null;
  if (hostProblem !== null) {
    throw new CommandError(
      `--host ${hostProblem}, ${got(f.host, 'HOMING_HOST')}`,
      pass(f.host, '--host', 'HOMING_HOST', '127.0.0.1'),
      2,
    );
  }
  const rate = num(f.rateLimit, '--rate-limit', 'HOMING_RATE_LIMIT');
  const burst = int(f.rateLimitBurst, '--rate-limit-burst', 'HOMING_RATE_LIMIT_BURST', 1);
  const origins = f.corsOrigins.trim();
  const originList =
    origins === '*'
      ? '*'
      : origins
          .split(',')
          .map((o) => o.trim())
          .filter((o) => o !== '');
  if (originList.length === 0) {
    // An empty allow-list refuses every browser (403): what an empty variable almost never means.
    throw new CommandError(
      `--cors-origins names no origin, ${got(f.corsOrigins, 'HOMING_CORS_ORIGINS')}`,
      "pass --cors-origins '*' to accept every origin, or list them (https://app.example.com,https://other.example); or unset HOMING_CORS_ORIGINS",
      2,
    );
  }
  const database = f.database?.trim();
  if (f.dataDir.trim() === '' && !database) {
    // resolve('') is the current directory: the database would land wherever serve was started.
    throw new CommandError(
      `--data-dir names no directory, ${got(f.dataDir, 'HOMING_DATA_DIR')}`,
      `pass --data-dir <dir> (default ${LISTEN_DEFAULTS.dataDir}), or unset HOMING_DATA_DIR`,
      2,
    );
  }
  return {
    port: int(f.port, '--port', 'HOMING_PORT', 0, 65_535),
    host: f.host,
    dataDir: givenPath(f.dataDir),
    ...(database ? { databaseUrl: database } : {}),
    retentionDays: num(f.retentionDays, '--retention-days', 'HOMING_RETENTION_DAYS'),
    corsOrigins: originList,
    maxBodyBytes: int(f.maxBodyBytes, '--max-body-bytes', 'HOMING_MAX_BODY_BYTES', 1),
    ...(f.maxBodyBytesInFlight === undefined
      ? {}
      : {
          maxBodyBytesInFlight: int(
            f.maxBodyBytesInFlight,
            '--max-body-bytes-in-flight',
            'HOMING_MAX_BODY_BYTES_IN_FLIGHT',
            1,
          ),
        }),
    maxBatchEvents: int(
      f.maxBatchEvents,
      '--max-batch-events',
      'HOMING_MAX_BATCH_EVENTS',
      1,
      MAX_BATCH_EVENTS,
    ),
    maxEventBytes: int(f.maxEventBytes, '--max-event-bytes', 'HOMING_MAX_EVENT_BYTES', 1),
    rateLimit: rate === 0 ? false : { eventsPerSecond: rate, burst },
    requestTimeoutMs: int(f.requestTimeoutMs, '--request-timeout-ms', 'HOMING_REQUEST_TIMEOUT_MS', 0),
    shutdownGraceMs: int(
      f.shutdownGraceMs,
      '--shutdown-grace-ms',
      'HOMING_SHUTDOWN_GRACE_MS',
      0,
      MAX_TIMER_MS,
    ),
    ...(f.keepAliveTimeoutMs === undefined
      ? {}
      : {
          keepAliveTimeoutMs: int(
            f.keepAliveTimeoutMs,
            '--keep-alive-timeout-ms',
            'HOMING_KEEP_ALIVE_TIMEOUT_MS',
            1,
            MAX_KEEP_ALIVE_TIMEOUT_MS,
          ),
        }),
    ...(f.maxConnections === undefined
      ? {}
      : { maxConnections: int(f.maxConnections, '--max-connections', 'HOMING_MAX_CONNECTIONS', 0) }),
    ...(f.closeExpandBudgetMs === undefined
      ? {}
      : {
          closeExpandBudgetMs: int(
            f.closeExpandBudgetMs,
            '--close-expand-budget-ms',
            'HOMING_CLOSE_EXPAND_BUDGET_MS',
            0,
            MAX_TIMER_MS,
          ),
        }),
    ...(f.maxPendingEvents === undefined
      ? {}
      : {
          maxPendingEvents: int(
            f.maxPendingEvents,
            '--max-pending-events',
            'HOMING_MAX_PENDING_EVENTS',
            1,
            100_000_000,
          ),
        }),
    ...(f.cacheSizeMib === undefined
      ? {}
      : { cacheSizeMiB: int(f.cacheSizeMib, '--cache-size-mib', 'HOMING_CACHE_SIZE_MIB', 1, 1_000_000) }),
    ...(f.walAutocheckpointPages === undefined
      ? {}
      : {
          walAutocheckpointPages: int(
            f.walAutocheckpointPages,
            '--wal-autocheckpoint-pages',
            'HOMING_WAL_AUTOCHECKPOINT_PAGES',
            1,
            1_000_000,
          ),
        }),
    logLevel: f.logLevel,
  };
}

/**
 * How a reader of the banner gets the admin key when it is not printed: `homing projects list`
 * on the same store. The data directory absolute (a service runs elsewhere than its operator's
 * shell); a database URL without its password, which a log would keep in the key's stead.
 */
export function keysCommand(store: { dataDir?: string; databaseUrl?: string }): string {
  let where: string;
  if (store.databaseUrl === undefined) {
    where = `--data-dir ${shellQuoted(resolve(store.dataDir ?? LISTEN_DEFAULTS.dataDir))}`;
  } else {
    const url = withoutPassword(store.databaseUrl);
    where =
      url === null
        ? '--database URL (the URL serve was given)'
        : `--database ${shellQuoted(url.url)}${url.hadPassword ? ' (the password left out)' : ''}`;
  }
  return `npx homing projects list --show-keys ${where}`;
}

/** The URL with neither a password in it nor a password parameter; null when it is no URL. */
function withoutPassword(databaseUrl: string): { url: string; hadPassword: boolean } | null {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return null;
  }
  const hadPassword = url.password !== '' || url.searchParams.has('password');
  if (!hadPassword) return { url: databaseUrl, hadPassword };
  url.password = '';
  url.searchParams.delete('password');
  return { url: url.toString(), hadPassword };
}

export interface BannerKeys {
  /**
   * Whether the admin key may be printed: only to a terminal. Output that is not one (systemd,
   * docker, a file) ends up in logs, kept and read by more people than the key is meant for.
   */
  showAdminKey: boolean;
  /** Where the admin key is printed instead (`keysCommand`). */
  keysCommand: string;
}

/** The lines printed once the server listens: where, which project, and a first event to send. */
export function banner(
  url: string,
  project: Project,
  created: boolean,
  storage: string,
  keys: BannerKeys,
): string {
  // An event without uuid and timestamp gets a uuid from its content alone, so it is stored once
  // ever: the line sends the shell's current time (GNU and BSD date alike, to the second), so
  // each run in a new second is a new event.
  const curl =
    `curl -X POST ${url}/ingest -H 'Authorization: Bearer ${project.writeKey}' ` +
    `-H 'Content-Type: application/json' ` +
    `-d '[{"event":"hello","distinct_id":"me","timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"}]'`;
  // A project's name is whatever created it gave (a script, SQL): printed as text.
  const name = terminalText(project.name);
  const lines = [`Homing is listening on ${url} (storage: ${terminalText(storage)})`, ''];
  if (created) {
    const adminKey = keys.showAdminKey ? project.adminKey : 'ADMIN_KEY';
    lines.push(
      `Created project "${name}" (${project.id}).`,
      `  write key (ingest only, safe in a browser): ${project.writeKey}`,
      ...(keys.showAdminKey
        ? [`  admin key (queries, export, erasure; keep it secret): ${project.adminKey}`]
        : [
            '  admin key (queries, export, erasure; keep it secret): not printed, as this output is not a',
            '  terminal and logs would keep it. Print it with:',
            `    ${terminalText(keys.keysCommand)}`,
          ]),
      '',
      'Send a first event. It carries the time to the second: run it again in the same second and',
      'the answer counts a duplicate, not a second event (exactly once: a resend is the same event;',
      'without "timestamp" or "uuid" an event is stored once ever):',
      `  ${curl}`,
      keys.showAdminKey ? 'Then see it:' : 'Then see it, with the admin key for ADMIN_KEY:',
      `  curl -H 'Authorization: Bearer ${adminKey}' '${url}/api/events?event=hello'`,
    );
  } else {
    lines.push(
      `Project "${name}": write key ${project.writeKey}`,
      `  send an event: ${curl}`,
      // The command naming this server's data directory or database, as where the admin key is
      // not printed: without them it reads ./.homing, the default, and fails on any other.
      `  every project and key: ${terminalText(keys.keysCommand)}`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}

export interface ServeHandle {
  running: RunningServer;
  /** Graceful shutdown, as on SIGTERM. */
  close(): Promise<void>;
}

/**
 * Starts the server: opens the store (SQLite in the data directory unless a database URL is
 * given), creates a default project on first start and prints its keys and a curl line, and
 * (with `signals`) shuts down gracefully on SIGTERM/SIGINT/SIGHUP.
 */
export async function serve(
  flags: ServeFlags,
  io: CommandIo = processIo,
  signals = true,
  start: typeof startServer = startServer,
): Promise<ServeHandle> {
  const { logLevel, ...options } = serveOptionsFromFlags(flags);
  let running: RunningServer;
  try {
    // Checked before the store opens, so a mistyped option neither creates a data directory nor
    // waits for PostgreSQL before it is reported.
    resolveServerOptions({ ...options, store: new NoopStore() });
    running = await start({ ...options, logger: { level: logLevel, stream: io.stdout } });
  } catch (err) {
    throw explain(err, options);
  }
  // Before the default project: with a backlog from an earlier run, that waits for homing.db's
  // write lock, which the expander holds, while the server already answers; a SIGTERM then killed
  // the process and reset requests in flight.
  let signalled = false;
  const dispose = signals
    ? shutdownOnSignals(
        {
          close: () => {
            signalled = true;
            return running.close();
          },
        },
        running.app.log,
      )
    : () => {};
  try {
    const { project, created } = await ensureDefaultProject(running.store);
    const storage = options.databaseUrl !== undefined ? 'PostgreSQL' : `SQLite in ${options.dataDir}`;
    io.stdout.write(
      banner(running.url, project, created, storage, {
        showAdminKey: io.stdout.isTTY === true,
        keysCommand: keysCommand(options),
      }),
    );
    return {
      running,
      async close() {
        dispose();
        await running.close();
      },
    };
  } catch (err) {
    // A signal's shutdown closed the store under the default project: no error of the user's;
    // the signal handler ends the process once the close is done.
    if (signalled) return { running, close: () => running.close() };
    dispose();
    // Left open, the server would hold the port, the retention job and the store while the
    // error is reported (and the process could not exit). The original error is what the user
    // can act on, so a failing close does not replace it.
    await running.close().catch(() => {});
    throw explain(err, options);
  }
}

/** Errors a user can act on, with what to do next. */
function explain(err: unknown, o: StartServerOptions): unknown {
  if (err instanceof ServerStartError) {
    // The port errors say what to do already; any other is an address this machine cannot take.
    return new CommandError(
      err.message,
      err.kind === 'listen'
        ? 'check --host / HOMING_HOST: an address of this machine (127.0.0.1, 0.0.0.0, ::) or a name that resolves to one'
        : undefined,
    );
  }
  if (err instanceof ServerOptionsError && err.option === 'corsOrigins') {
    return new CommandError(
      `--cors-origins ${err.message.slice(`server option ${err.option} `.length)}`,
      "pass --cors-origins https://app.example.com[,https://other.example] or '*', or set HOMING_CORS_ORIGINS",
      2,
    );
  }
  if (err instanceof ServerOptionsError)
    return new CommandError(err.message, 'see npx homing serve --help', 2);
  if (err instanceof RetentionOptionError && err.option === 'retentionDays') {
    return new CommandError(
      `invalid --retention-days (${err.message})`,
      'pass --retention-days <days> or set HOMING_RETENTION_DAYS (0 keeps events forever)',
      2,
    );
  }
  if (err instanceof StoreError) {
    const hints: Partial<Record<StoreError['kind'], string>> = {
      'unsupported-url': 'use --database postgres://user@host:5432/db, or leave it unset for SQLite',
      unreachable:
        'check that PostgreSQL runs and the URL (host, port, user, database) in --database / HOMING_DATABASE_URL',
      migration:
        'see the message above: a schema written by a newer Homing needs that version or newer; a failed upgrade, what it names fixed before starting again',
      timeout: LOCK_HINT,
      'disk-full': diskFullHint(o.dataDir ?? LISTEN_DEFAULTS.dataDir),
      // None for 'data-dir': the store's message advises by cause (a file the user may not
      // write, or a damaged one, whose fixes are opposite).
    };
    // A URL no store can open is bad usage (exit 2), as in `homing projects`.
    return new CommandError(err.message, hints[err.kind], err.kind === 'unsupported-url' ? 2 : 1);
  }
  return err;
}

/** `homing serve`'s action: runs the server until a signal stops it; answers the exit code. */
export async function serveCommand(flags: ServeFlags): Promise<number> {
  return runCommand(processIo, async () => {
    await serve(flags);
    return 0;
  });
}
