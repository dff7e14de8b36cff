import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import { MAX_TIMER_MS } from './maxTimer.js';
import { checkRetentionOptions } from './retention/retentionJob.js';
import type { Store } from './store/store.js';

export interface RateLimitOptions {
  /** Events a project may send per second, sustained (the bucket's refill rate). */
  eventsPerSecond: number;
  /** Events a project may send at once when its bucket is full. */
  burst: number;
}

export interface ServerOptions {
  /** Where events go. The server never closes a store it was given; `startServer` closes its own. */
  store: Store;
  /**
   * A pino logger (used as is), Fastify/pino logger options (`{ level, stream }`), `true` for
   * pino at `info` on stdout, or `false` for none.
   * Default `false`. Logs carry method, route, status and timings, never an event's content or a key.
   */
  logger?: FastifyBaseLogger | FastifyServerOptions['logger'];
  /** Log one line per request and response (Fastify's request logging). Default true. */
  logRequests?: boolean;
  /** Largest request body after decompression, bytes. Default 10 MiB. */
  maxBodyBytes?: number;
  /**
   * Bytes (after decompression) that all ingest bodies being read and parsed at once may hold
   * together; a body past it is refused with 503 and Retry-After before more of it is
   * decompressed. Bounds what bodies sent without a valid key cost before their 401 (a key in
   * the body is read only after the parse). One sender (an IPv4 address, an IPv6 /64) may hold
   * an eighth of it, and at least maxBodyBytes. Default the larger of 64 MiB and 4 ×
   * maxBodyBytes; at least maxBodyBytes.
   */
  maxBodyBytesInFlight?: number;
  /**
   * Most events (array items) one ingest request may carry, on every wire format; a request with
   * more is refused whole with 413 before any of its events is looked at. Default 10 000, from 1
   * to 1 000 000.
   */
  maxBatchEvents?: number;
  /**
   * Largest single event, UTF-8 bytes of its JSON (counted without escapes), refused per event.
   * Default 1 000 000. `startServer` sets the store it opens to take such events; a store of your
   * own keeps its own `maxPropertiesChars` (default 1 000 000 characters of escaped JSON).
   */
  maxEventBytes?: number;
  /** Deepest nesting of an event's properties, refused per event. Default 32. */
  maxPropertiesDepth?: number;
  /**
   * Origins allowed to send from a browser: `'*'` or a list of origins as browsers send them,
   * `scheme://host[:port]` (http or https, lower case, no path, no trailing slash, no default
   * port). With a list, a request whose `Origin` is another is refused with 403, a beacon or
   * text/plain POST included, which no preflight stops. The server's own origin is the address
   * and port a connection reached, never the Host header (which a DNS-rebinding page sets); an
   * app served at another name of it (behind a proxy) is listed. Default `'*'` (write keys are public).
   */
  corsOrigins?: '*' | readonly string[];
  /** Token bucket per project, counted in events; `false` turns it off. Default 10 000/s, burst 100 000. */
  rateLimit?: RateLimitOptions | false;
  /** How long a write key's project is remembered, ms (0: ask the store every time). Default 60 000. */
  keyCacheTtlMs?: number;
  /** Most write keys remembered at once. Default 10 000. */
  keyCacheSize?: number;
  /** Retry-After of a 503 (storage failing or shutting down), seconds. Default 5. */
  retryAfterSeconds?: number;
  /** How long /readyz waits for the store's ping, ms. Default 2000. */
  readyTimeoutMs?: number;
  /** Trust X-Forwarded-* from a proxy in front (Fastify's trustProxy). Default false. */
  trustProxy?: boolean;
  /**
   * Longest a client may take to send a whole request (headers and body), ms; a request still
   * arriving after it is answered 408 and its connection closed, storing nothing of it (a stalled
   * or deliberately slow upload cannot hold a connection, or shutdown, forever). Checked about
   * once a second. 0 turns it off. Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * How long a kept-alive connection may sit idle between requests, ms, before it is closed
   * (Node closes it 1 s later and announces it to clients in `Keep-Alive: timeout=`, which
   * fetch/undici and Node's agent with a timeout honour). Longer than the Homing client's
   * 5 s flush interval, whose agent reuses a socket without a timeout of its own. Default 10 000.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Most connections open at once; one over it is closed as soon as it is accepted. 0: no cap
   * (the process's file descriptor limit is the cap). Default 0.
   */
  maxConnections?: number;
  /**
   * On close, how long requests in flight may take to finish, ms; connections still open after
   * it (a stalled upload, a client that keeps a request open) are closed, so close() ends.
   * Default 10 000.
   */
  shutdownGraceMs?: number;
  /**
   * The retention period events are deleted after, in days (the retention job's; fractions
   * allowed): an event whose timestamp is already older than it when it arrives is stored at its
   * receive time, its own timestamp kept as `originalTimestamp`, rather than answered "stored"
   * and deleted by the next retention run. 0: no retention, timestamps kept. Default 0;
   * `startServer` passes its own `retentionDays` (default 90).
   */
  retentionDays?: number;
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'logger'>> & Pick<ServerOptions, 'logger'>;

/**
 * The highest maxBatchEvents may be set: a batch is answered with one entry per refused event,
 * so a million invalid items already hold the event loop for seconds and answer ~50 MB.
 */
export const MAX_BATCH_EVENTS = 1_000_000;

/** Every default of the server, in one place. */
export const SERVER_DEFAULTS = {
  logger: false,
  logRequests: true,
  maxBodyBytes: 10 * 1024 * 1024,
  // At least: 4 × maxBodyBytes when that is more (serverOptions resolves it).
  maxBodyBytesInFlight: 64 * 1024 * 1024,
  // PostHog's and Segment's SDKs send at most a few hundred events at a time, Homing's client
  // 100 by default (and it halves a batch answered 413).
  maxBatchEvents: 10_000,
  maxEventBytes: 1_000_000,
  maxPropertiesDepth: 32,
  corsOrigins: '*',
  rateLimit: { eventsPerSecond: 10_000, burst: 100_000 },
  keyCacheTtlMs: 60_000,
  keyCacheSize: 10_000,
  retryAfterSeconds: 5,
  readyTimeoutMs: 2000,
  trustProxy: false,
  requestTimeoutMs: 30_000,
  // Node's default is 5 s; the Homing client flushes every 5 s on a socket it keeps without a
  // timeout, so a 5 s server would close it about when it is reused (ECONNRESET, a retry).
  keepAliveTimeoutMs: 10_000,
  // A cap counts busy connections too: any cap low enough to matter is one an attacker's idle
  // sockets fill, refusing real clients, so none by default (set one below `ulimit -n`).
  maxConnections: 0,
  shutdownGraceMs: 10_000,
  retentionDays: 0,
} as const satisfies Omit<ServerOptions, 'store'>;

export class ServerOptionsError extends Error {
  override readonly name = 'ServerOptionsError';
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`server option ${option} ${message}`);
  }
}

/** Merges the options with the defaults once and checks them, naming the option that is wrong. */
export function resolveServerOptions(o: ServerOptions): ResolvedServerOptions {
  if (o === null || typeof o !== 'object') throw new ServerOptionsError('(options)', 'must be an object');
  const store = o.store as Partial<Store> | undefined;
  if (store === null || typeof store !== 'object' || typeof store.insertEvents !== 'function') {
    throw new ServerOptionsError(
      'store',
      'must be a Store (openStore, SqliteStore, PostgresStore, NoopStore)',
    );
  }
  const r: ResolvedServerOptions = {
    store: o.store,
    logger: o.logger ?? SERVER_DEFAULTS.logger,
    logRequests: o.logRequests ?? SERVER_DEFAULTS.logRequests,
    maxBodyBytes: o.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes,
    maxBodyBytesInFlight:
      o.maxBodyBytesInFlight ??
      Math.max(SERVER_DEFAULTS.maxBodyBytesInFlight, 4 * (o.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes)),
    maxBatchEvents: o.maxBatchEvents ?? SERVER_DEFAULTS.maxBatchEvents,
    maxEventBytes: o.maxEventBytes ?? SERVER_DEFAULTS.maxEventBytes,
    maxPropertiesDepth: o.maxPropertiesDepth ?? SERVER_DEFAULTS.maxPropertiesDepth,
    corsOrigins: o.corsOrigins ?? SERVER_DEFAULTS.corsOrigins,
    rateLimit: o.rateLimit ?? { ...SERVER_DEFAULTS.rateLimit },
    keyCacheTtlMs: o.keyCacheTtlMs ?? SERVER_DEFAULTS.keyCacheTtlMs,
    keyCacheSize: o.keyCacheSize ?? SERVER_DEFAULTS.keyCacheSize,
    retryAfterSeconds: o.retryAfterSeconds ?? SERVER_DEFAULTS.retryAfterSeconds,
    readyTimeoutMs: o.readyTimeoutMs ?? SERVER_DEFAULTS.readyTimeoutMs,
    trustProxy: o.trustProxy ?? SERVER_DEFAULTS.trustProxy,
    requestTimeoutMs: o.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? SERVER_DEFAULTS.keepAliveTimeoutMs,
    maxConnections: o.maxConnections ?? SERVER_DEFAULTS.maxConnections,
    shutdownGraceMs: o.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs,
    retentionDays: o.retentionDays ?? SERVER_DEFAULTS.retentionDays,
  };
  integer('maxBodyBytes', r.maxBodyBytes, 1);
  integer('maxBodyBytesInFlight', r.maxBodyBytesInFlight, r.maxBodyBytes);
  integer('maxBatchEvents', r.maxBatchEvents, 1, MAX_BATCH_EVENTS);
  integer('maxEventBytes', r.maxEventBytes, 1);
  integer('maxPropertiesDepth', r.maxPropertiesDepth, 1);
  integer('keyCacheTtlMs', r.keyCacheTtlMs, 0);
  integer('keyCacheSize', r.keyCacheSize, 0);
  integer('retryAfterSeconds', r.retryAfterSeconds, 1);
  // Both are timer delays: a larger one would fire at once (readyz always failing, a shutdown
  // cutting requests in flight after 1 ms).
  integer('readyTimeoutMs', r.readyTimeoutMs, 1, MAX_TIMER_MS);
  integer('requestTimeoutMs', r.requestTimeoutMs, 0);
  // 0 would hold idle connections forever; it is a timer delay too.
  integer('keepAliveTimeoutMs', r.keepAliveTimeoutMs, 1, MAX_KEEP_ALIVE_TIMEOUT_MS);
  integer('maxConnections', r.maxConnections, 0);
  integer('shutdownGraceMs', r.shutdownGraceMs, 0, MAX_TIMER_MS);
  // The retention job's own check and error (RetentionOptionError), which `homing serve` names
  // its flag by: the same value is the job's period.
  checkRetentionOptions({ retentionDays: r.retentionDays });
  if (typeof r.logRequests !== 'boolean') throw new ServerOptionsError('logRequests', 'must be a boolean');
  if (typeof r.trustProxy !== 'boolean') throw new ServerOptionsError('trustProxy', 'must be a boolean');
  checkCorsOrigins(r.corsOrigins);
  if (r.rateLimit !== false) {
    const rl = r.rateLimit as Partial<RateLimitOptions> | null;
    if (rl === null || typeof rl !== 'object') {
      throw new ServerOptionsError('rateLimit', 'must be { eventsPerSecond, burst } or false');
    }
    positive('rateLimit.eventsPerSecond', rl.eventsPerSecond);
    positive('rateLimit.burst', rl.burst);
  }
  return r;
}

/**
 * @fastify/cors compares a request's Origin header with each configured origin character for
 * character, so an origin written any other way than a browser serializes it (a trailing slash,
 * no scheme, a path, upper case, a default port) never matches and browser ingestion fails
 * without an error anywhere: refuse it at start, with the form that would match.
 */
function checkCorsOrigins(origins: unknown): void {
  const usage = "must be '*' or a list of origins such as https://app.example.com";
  if (origins === '*') return;
  if (typeof origins === 'string') {
    throw new ServerOptionsError('corsOrigins', `${usage}: pass ['${origins}'], not the string`);
  }
  if (!Array.isArray(origins)) {
    throw new ServerOptionsError('corsOrigins', `${usage} (got ${describe(origins)})`);
  }
  for (const origin of origins as unknown[]) {
    if (typeof origin !== 'string' || origin.trim() === '') {
      throw new ServerOptionsError('corsOrigins', `${usage} (got an empty or non-string entry)`);
    }
    if (origin.trim() === '*') {
      // In a list, '*' is compared literally like any other entry, so it would match nothing.
      throw new ServerOptionsError(
        'corsOrigins',
        `has '*' in a list of origins, where it matches no browser: pass '*' alone to allow every origin`,
      );
    }
    const problem = originProblem(origin);
    if (problem !== null) throw new ServerOptionsError('corsOrigins', problem);
  }
}

/** Why `origin` is not an origin as a browser sends it, with the corrected form; null if it is. */
function originProblem(origin: string): string | null {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(origin.trim());
  let url: URL | null = null;
  try {
    url = new URL(hasScheme ? origin : `https://${origin.trim()}`);
  } catch {
    // Not even a URL: nothing to suggest.
  }
  const form = 'an origin is scheme://host[:port] with http or https, without path, query or trailing slash';
  if (url !== null && url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `has "${origin}": browsers ingest from http or https origins only (${form})`;
  }
  if (url === null || url.host === '') {
    return `has "${origin}", which is not an origin (${form}), such as https://app.example.com`;
  }
  if (origin === url.origin) return null;
  return `has "${origin}", which a browser never sends as its Origin, so it would match nothing: did you mean ${url.origin}? (${form})`;
}

export { MAX_TIMER_MS } from './maxTimer.js';

/**
 * The longest `keepAliveTimeoutMs`: Node sets an idle socket's timeout a second past it, and a
 * timer past MAX_TIMER_MS warns (TimeoutOverflowWarning) on every response.
 */
export const MAX_KEEP_ALIVE_TIMEOUT_MS = MAX_TIMER_MS - 1000;

function integer(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ServerOptionsError(name, `must be an integer ${range} (got ${describe(v)})`);
  }
}

function positive(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ServerOptionsError(name, `must be a number > 0 (got ${describe(v)})`);
  }
}

function describe(v: unknown): string {
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v;
}

/** Where `startServer` (and so `homing serve`) listens and keeps data, unless told otherwise. */
export const LISTEN_DEFAULTS = {
  host: '127.0.0.1',
  port: 8090,
  dataDir: './.homing',
  retentionDays: 90,
} as const;
