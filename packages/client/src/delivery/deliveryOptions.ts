import { describeValue } from '../describeValue.js';
import type { HomingEvent } from '../event.js';
import { MAX_DELAY_MS } from '../maxDelay.js';
import { DeliveryOptionError } from './errors.js';

export type DestinationName = 'homing' | 'posthog' | 'segment' | 'custom';

/** What a `custom` destination's `send` receives besides the events. */
export interface CustomSendContext {
  /** Aborted on request timeout and on shutdown. */
  readonly signal: AbortSignal;
  /** The endpoint's id (for the app's own logs). */
  readonly endpoint: string;
}

export type CustomSend = (events: HomingEvent[], context: CustomSendContext) => Promise<void>;

/** One place to send events to. */
export interface EndpointConfig {
  destination: DestinationName;
  /** Base URL, e.g. `https://homing.example.com` (not for `custom`). */
  host?: string;
  /** The write key (Homing), project API key (PostHog) or write key (Segment). */
  key?: string;
  /** For `custom`: receives each batch; throw a `DestinationError` to fail it. */
  send?: CustomSend;
  /**
   * The endpoint's id in stats, events and the saved breaker state. Default
   * `<destination>:<host>` (`custom:<index>` for custom ones). Keep it stable across runs.
   */
  name?: string;
}

export interface RetryBackoffOptions {
  /** Upper bound of the first delay (full jitter draws in [0, this)). Default 1 000 ms. */
  initialMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Cap on a computed delay. Default 60 000 ms. */
  maxMs?: number;
}

export interface BreakerOptions {
  /** Failed requests in a row that open an endpoint's circuit. Default 5. */
  threshold?: number;
  /**
   * The longest an open circuit refuses before one probe is let through. Default 30 000 ms.
   * The first opening refuses for `initialHalfOpenAfterMs`; each failed probe doubles it, up to this.
   */
  halfOpenAfterMs?: number;
  /**
   * How long the circuit refuses when it first opens (after closing, or ever). Default 1 000 ms;
   * above `halfOpenAfterMs`, that. A fixed 30 s period held delivery back for 30 s after a server
   * restart of a few seconds; growing, a brief outage costs about its own length, a long one is
   * probed every `halfOpenAfterMs`.
   */
  initialHalfOpenAfterMs?: number;
}

export interface DeliveryOptionsInput {
  /** Where events go; at least one. */
  endpoints: EndpointConfig[];
  /** `failover` (default): the next endpoint when one fails or is open. `fanout`: all; done once any accepts. */
  mode?: 'failover' | 'fanout';
  /**
   * Most events per request; a full batch goes at once. Default 100, as the client's contract
   * says. A larger batch costs less CPU per event on Node (its HTTP client costs per request:
   * delivering 100 000 events to a local sink from a busy process, 500 a request took about a
   * quarter less CPU and time than 100); an app that sends in bulk can raise it.
   */
  batchSize?: number;
  /** Most uncompressed bytes of events per request. Default 512 KiB. */
  batchBytes?: number;
  /**
   * A partial batch waits at most this long. Default 5 000 ms. A full batch goes at once; with 0,
   * every event goes as soon as it is stored (an idle client then looks for other processes'
   * events once a second, not continuously).
   */
  intervalMs?: number;
  /** Bodies larger than this are gzipped (where the platform can). Default 1 024 bytes. */
  gzipMinBytes?: number;
  /** Set false to never gzip. Default true. */
  gzip?: boolean;
  /** A request that takes longer is aborted and retried. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /**
   * Batches in flight at once (each its own claim, never the same records). Default 4: one at a
   * time left the loop idle half of a backlog's drain, waiting on the server and on gzip. Until
   * a first batch has gone through one goes at a time, so a wrong key or a dead server gets one
   * request, not `concurrency` of them.
   */
  concurrency?: number;
  /** Full-jitter exponential backoff between attempts on one endpoint. */
  retry?: RetryBackoffOptions;
  /** Cap on a server's `Retry-After`. Default 300 000 ms. */
  maxRetryAfterMs?: number;
  /** Circuit breaker per endpoint. */
  breaker?: BreakerOptions;
  /** Node: flush on `beforeExit` within `exitFlushTimeoutMs`; browsers: send on page hide. Default true. */
  flushOnExit?: boolean;
  /** Budget of the flush at process exit (Node). Default 2 000 ms. */
  exitFlushTimeoutMs?: number;
  /** Most bytes sent with keepalive fetch / sendBeacon when a page goes away. Default 64 KiB. */
  unloadBudgetBytes?: number;
}

export interface ResolvedEndpoint {
  readonly id: string;
  readonly destination: DestinationName;
  /** Without a trailing slash. */
  readonly host: string;
  readonly key: string;
  readonly send: CustomSend | undefined;
}

export interface DeliveryOptions {
  readonly endpoints: readonly ResolvedEndpoint[];
  readonly mode: 'failover' | 'fanout';
  readonly batchSize: number;
  readonly batchBytes: number;
  readonly intervalMs: number;
  readonly gzipMinBytes: number;
  readonly gzip: boolean;
  readonly requestTimeoutMs: number;
  readonly concurrency: number;
  readonly retry: Readonly<Required<RetryBackoffOptions>>;
  readonly maxRetryAfterMs: number;
  readonly breaker: Readonly<Required<BreakerOptions>>;
  readonly flushOnExit: boolean;
  readonly exitFlushTimeoutMs: number;
  readonly unloadBudgetBytes: number;
}

/** Every default, in one place. */
export const DEFAULT_DELIVERY_OPTIONS = {
  mode: 'failover',
  batchSize: 100,
  batchBytes: 512 * 1024,
  intervalMs: 5_000,
  gzipMinBytes: 1_024,
  gzip: true,
  requestTimeoutMs: 10_000,
  concurrency: 4,
  retry: { initialMs: 1_000, factor: 2, maxMs: 60_000 },
  maxRetryAfterMs: 300_000,
  breaker: { threshold: 5, halfOpenAfterMs: 30_000, initialHalfOpenAfterMs: 1_000 },
  flushOnExit: true,
  exitFlushTimeoutMs: 2_000,
  unloadBudgetBytes: 64 * 1024,
} as const satisfies Omit<DeliveryOptions, 'endpoints'>;

/**
 * Where a platform needs other defaults, over `DEFAULT_DELIVERY_OPTIONS` (an option the app sets
 * still wins). Browsers: Chromium runs `CompressionStream` gzip on the page's main thread, about
 * 0.1 ms per KB here (176 KB: 21 ms, 700 KB: 68 ms), so 512 KiB batches, four at once beside the
 * IndexedDB reads of their claims, made 50-110 ms long tasks while a backlog drained. A 128 KiB
 * batch gzips in about 15 ms; two at a time still drain a backlog within seconds.
 */
export const PLATFORM_DELIVERY_DEFAULTS: Readonly<
  Partial<Record<string, Partial<Pick<DeliveryOptions, 'batchBytes' | 'concurrency'>>>>
> = {
  browser: { batchBytes: 128 * 1024, concurrency: 2 },
};

/**
 * A request our own shutdown or exit flush cut short counts as a failed attempt (against the
 * endpoint's circuit) once it had waited this long without an answer, or `requestTimeoutMs` when
 * that is shorter. A healthy endpoint answers a batch well within a second, and the exit flush
 * (2 s by default) starts its requests at once, so an endpoint that never answers is counted on
 * every run of a CLI and its circuit opens after `breaker.threshold` runs. A request cut sooner
 * (a shutdown right after it went out) says nothing about the endpoint and is not counted. The
 * price: an endpoint slower than this on every one of `threshold` runs in a row is skipped while
 * its circuit is open (`initialHalfOpenAfterMs` at first, 1 s by default, doubled by each failed
 * probe up to `halfOpenAfterMs`); its events wait in the outbox meanwhile.
 */
export const CUT_REQUEST_FAILS_AFTER_MS = 1_000;

/**
 * The least the retry backoff's first cap (`retry.initialMs`), its largest cap (`retry.maxMs`)
 * and an open circuit's wait (`breaker.halfOpenAfterMs`) are when delivery uses them; smaller
 * values, 0 included, are accepted and mean this. Each failed attempt costs a connection and a
 * small state write that keeps the process alive while it runs: with no wait between them a
 * refused endpoint was tried about 300 times a second, the CPU spun, and a one-event script
 * never got to exit (there was always a write in progress). Each retry waits at least this too
 * (`EndpointChannel`), whatever the backoff's full jitter draws below its cap; from 100 ms on
 * there is time between attempts for a script to end.
 */
export const MIN_RETRY_WAIT_MS = 100;

/**
 * The options delivery runs with: `resolveDeliveryOptions`'s, with the waits raised to
 * `MIN_RETRY_WAIT_MS`. The resolved options keep the values as the app set them.
 */
export function withWaitFloors(options: DeliveryOptions): DeliveryOptions {
  const floor = (ms: number): number => Math.max(ms, MIN_RETRY_WAIT_MS);
  return {
    ...options,
    retry: { ...options.retry, initialMs: floor(options.retry.initialMs), maxMs: floor(options.retry.maxMs) },
    breaker: {
      ...options.breaker,
      halfOpenAfterMs: floor(options.breaker.halfOpenAfterMs),
      initialHalfOpenAfterMs: floor(options.breaker.initialHalfOpenAfterMs),
    },
  };
}

const DESTINATIONS: readonly DestinationName[] = ['homing', 'posthog', 'segment', 'custom'];
const TOP_LEVEL = new Set([
  'endpoints',
  'mode',
  'batchSize',
  'batchBytes',
  'intervalMs',
  'gzipMinBytes',
  'gzip',
  'requestTimeoutMs',
  'concurrency',
  'retry',
  'maxRetryAfterMs',
  'breaker',
  'flushOnExit',
  'exitFlushTimeoutMs',
  'unloadBudgetBytes',
]);
const ENDPOINT_KEYS = new Set(['destination', 'host', 'key', 'send', 'name']);

/**
 * Merges the defaults once (those of `platform`, a `Platform['name']`, over the others) and
 * validates everything; a bad option throws a `DeliveryOptionError` naming it.
 */
export function resolveDeliveryOptions(input: DeliveryOptionsInput, platform?: string): DeliveryOptions {
  const o = object('options', input);
  unknownKeys('options', o, TOP_LEVEL);
  const d = {
    ...DEFAULT_DELIVERY_OPTIONS,
    ...(platform === undefined ? undefined : PLATFORM_DELIVERY_DEFAULTS[platform]),
  };
  const retry = object('retry', o.retry ?? {});
  unknownKeys('retry', retry, new Set(['initialMs', 'factor', 'maxMs']));
  const breaker = object('breaker', o.breaker ?? {});
  unknownKeys('breaker', breaker, new Set(['threshold', 'halfOpenAfterMs', 'initialHalfOpenAfterMs']));
  const mode = o.mode ?? d.mode;
  if (mode !== 'failover' && mode !== 'fanout') {
    throw new DeliveryOptionError('mode', `must be 'failover' or 'fanout', got ${describeValue(mode)}`);
  }
  const factor = retry.factor ?? d.retry.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new DeliveryOptionError(
      'retry.factor',
      `must be a finite number >= 1, got ${describeValue(factor)}`,
    );
  }
  return {
    endpoints: resolveEndpoints(o.endpoints),
    mode,
    batchSize: integer('batchSize', o.batchSize ?? d.batchSize, 1, 1_000_000),
    batchBytes: integer('batchBytes', o.batchBytes ?? d.batchBytes, 1, 1024 ** 3),
    intervalMs: delay('intervalMs', o.intervalMs ?? d.intervalMs),
    gzipMinBytes: integer('gzipMinBytes', o.gzipMinBytes ?? d.gzipMinBytes, 0, Number.MAX_SAFE_INTEGER),
    gzip: boolean('gzip', o.gzip ?? d.gzip),
    requestTimeoutMs: integer('requestTimeoutMs', o.requestTimeoutMs ?? d.requestTimeoutMs, 1, MAX_DELAY_MS),
    concurrency: integer('concurrency', o.concurrency ?? d.concurrency, 1, 64),
    retry: {
      initialMs: delay('retry.initialMs', retry.initialMs ?? d.retry.initialMs),
      factor,
      maxMs: delay('retry.maxMs', retry.maxMs ?? d.retry.maxMs),
    },
    maxRetryAfterMs: delay('maxRetryAfterMs', o.maxRetryAfterMs ?? d.maxRetryAfterMs),
    breaker: {
      threshold: integer('breaker.threshold', breaker.threshold ?? d.breaker.threshold, 1, 1_000_000),
      halfOpenAfterMs: delay('breaker.halfOpenAfterMs', breaker.halfOpenAfterMs ?? d.breaker.halfOpenAfterMs),
      initialHalfOpenAfterMs: delay(
        'breaker.initialHalfOpenAfterMs',
        breaker.initialHalfOpenAfterMs ?? d.breaker.initialHalfOpenAfterMs,
      ),
    },
    flushOnExit: boolean('flushOnExit', o.flushOnExit ?? d.flushOnExit),
    exitFlushTimeoutMs: delay('exitFlushTimeoutMs', o.exitFlushTimeoutMs ?? d.exitFlushTimeoutMs),
    unloadBudgetBytes: integer('unloadBudgetBytes', o.unloadBudgetBytes ?? d.unloadBudgetBytes, 0, 1024 ** 3),
  };
}

function resolveEndpoints(value: unknown): ResolvedEndpoint[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new DeliveryOptionError('endpoints', 'must be a non-empty array of endpoint configs');
  }
  if (value.length > 16) throw new DeliveryOptionError('endpoints', 'at most 16 endpoints');
  const ids = new Set<string>();
  return value.map((raw, i) => {
    const at = `endpoints[${i}]`;
    const e = object(at, raw);
    unknownKeys(at, e, ENDPOINT_KEYS);
    const destination = e.destination as DestinationName;
    if (!DESTINATIONS.includes(destination)) {
      throw new DeliveryOptionError(
        `${at}.destination`,
        `must be one of ${DESTINATIONS.join(', ')}, got ${describeValue(destination)}`,
      );
    }
    let host = '';
    let send: CustomSend | undefined;
    if (destination === 'custom') {
      if (typeof e.send !== 'function') {
        throw new DeliveryOptionError(
          `${at}.send`,
          'a custom destination needs an async function send(events, context)',
        );
      }
      send = e.send as CustomSend;
    } else {
      if (e.send !== undefined)
        throw new DeliveryOptionError(`${at}.send`, `only a custom destination takes send`);
      host = url(`${at}.host`, e.host);
    }
    if (e.key !== undefined && typeof e.key !== 'string') {
      throw new DeliveryOptionError(`${at}.key`, `must be a string, got ${describeValue(e.key)}`);
    }
    const key = (e.key as string | undefined) ?? '';
    if (destination !== 'custom' && key === '') {
      throw new DeliveryOptionError(`${at}.key`, `the ${destination} destination needs a key`);
    }
    if (/[\r\n]/.test(key)) throw new DeliveryOptionError(`${at}.key`, 'must not contain line breaks');
    if (destination !== 'custom') {
      // An HTTP header cannot carry it: every send would fail in the client, and be retried.
      const bad = /[^\x20-\x7e]/.exec(key);
      if (bad !== null) {
        const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new DeliveryOptionError(
          `${at}.key`,
          `must be printable ASCII; it has U+${code} at index ${bad.index} (copied with an invisible character?)`,
        );
      }
    }
    let id: string;
    if (e.name !== undefined) {
      if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > 120) {
        throw new DeliveryOptionError(`${at}.name`, 'must be a string of 1 to 120 characters');
      }
      id = e.name;
    } else {
      id = destination === 'custom' ? `custom:${i}` : `${destination}:${host}`.slice(0, 120);
    }
    if (ids.has(id))
      throw new DeliveryOptionError(`${at}.name`, `endpoint id "${id}" is used twice; give each a name`);
    ids.add(id);
    return { id, destination, host, key, send };
  });
}

function object(option: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DeliveryOptionError(option, `must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

function unknownKeys(option: string, value: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new DeliveryOptionError(option === 'options' ? key : `${option}.${key}`, 'is not a known option');
    }
  }
}

function integer(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DeliveryOptionError(
      option,
      `must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function delay(option: string, value: unknown): number {
  return integer(option, value, 0, MAX_DELAY_MS);
}

function boolean(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new DeliveryOptionError(option, `must be true or false, got ${describeValue(value)}`);
  return value;
}

function url(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DeliveryOptionError(option, `must be an http(s) URL, got ${describeValue(value)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new DeliveryOptionError(option, `must be an http(s) URL, got ${describeValue(value)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    // 'localhost:8080' parses with 'localhost:' as its scheme: the scheme was left out.
    const hint = value.includes('://') ? '' : ` (did you mean 'http://${value.trim()}'?)`;
    throw new DeliveryOptionError(option, `must use http or https, got ${parsed.protocol}${hint}`);
  }
  // `search` and `hash` are '' for an empty query or fragment too ("https://h/?"), which
  // would end up in the middle of the request URL ("https://h/?/ingest"): a `?` or `#` in the
  // serialised URL is always a delimiter (one in the path is escaped).
  if (/[?#]/.test(parsed.href)) {
    throw new DeliveryOptionError(option, 'must not have a query or fragment (give the base URL)');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // The host names the endpoint in stats(), logs and $homing_delivery events: no secrets in it.
    throw new DeliveryOptionError(option, 'must not carry a user name or password (give the key as key)');
  }
  // As parsed: surrounding spaces gone, spaces in the path escaped, the host in lower case.
  return parsed.href.replace(/\/+$/, '');
}
