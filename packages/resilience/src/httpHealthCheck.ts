import { ConfigError } from './errors.js';

/** What a health check answers: `true`/nothing = healthy, `false` = failed, or a detailed result. */
export type HealthCheckResult =
  | boolean
  | void
  | {
      readonly ok: boolean;
      /** Working but impaired (slow, nearly full, ...): the check reports 'degraded'. */
      readonly degraded?: boolean;
      /** Anything worth showing in the report (kept as given: keep it JSON-friendly). */
      readonly details?: unknown;
      /** Why it failed or is degraded; becomes `lastError` of a failed check. */
      readonly message?: string;
    };

/** A check: resolves to a result, throws (failure) or is aborted through `signal` when it runs too long. */
export type HealthCheckFunction = (signal: AbortSignal) => HealthCheckResult | PromiseLike<HealthCheckResult>;

export interface HttpHealthCheck {
  readonly url: string;
  /** Default 'GET'. */
  readonly method?: string;
  /** One status or a list; default any 2xx. */
  readonly expectedStatus?: number | readonly number[];
  readonly headers?: Readonly<Record<string, string>>;
}

type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const KNOWN_KEYS = new Set(['url', 'method', 'expectedStatus', 'headers']);

/**
 * Turns `{ url, method, expectedStatus, headers }` into a check function: one request per
 * run, aborted through the run's signal, healthy when the status is one of `expectedStatus`.
 * The body is discarded so the connection goes back to the pool.
 */
export function httpHealthCheck(spec: HttpHealthCheck, fetchImpl?: FetchLike): HealthCheckFunction {
  if (spec === null || typeof spec !== 'object')
    throw new ConfigError('check', 'must be a function or { url }');
  for (const key of Object.keys(spec)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`check.${key}`, 'is not an HTTP check option');
  }
  const url = checkUrl(spec.url);
  const method = spec.method ?? 'GET';
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new ConfigError('check.method', `must be an HTTP method, got ${String(method)}`);
  }
  const expected = checkExpected(spec.expectedStatus);
  const headers = spec.headers;
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object') {
      throw new ConfigError('check.headers', 'must be an object of header strings');
    }
    for (const [name, value] of Object.entries(headers)) {
      if (!TOKEN.test(name) || typeof value !== 'string') {
        throw new ConfigError(
          'check.headers',
          `header ${JSON.stringify(name)} must be a token with a string value`,
        );
      }
    }
  }
  const doFetch = fetchImpl ?? (globalThis.fetch as FetchLike | undefined);
  if (typeof doFetch !== 'function') throw new ConfigError('fetch', 'no fetch is available; pass one');

  return async (signal) => {
    // no-store: a cached 200 from a browser would say nothing about the server now.
    const response = await doFetch(url, { method, headers, signal, cache: 'no-store' });
    // Discard the body so the socket is reused rather than held until garbage collection.
    response.body?.cancel().catch(() => {});
    const ok =
      expected === undefined
        ? response.status >= 200 && response.status < 300
        : expected.has(response.status);
    return ok
      ? { ok, details: { status: response.status } }
      : {
          ok,
          details: { status: response.status },
          message: `unexpected status ${response.status} (expected ${expected === undefined ? '2xx' : [...expected].join(' or ')})`,
        };
  };
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url === '') throw new ConfigError('check.url', 'must be a non-empty string');
  // In a browser a relative URL is resolved against the page, as fetch would.
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new ConfigError('check.url', `is not a valid URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('check.url', `must be http: or https:, got ${parsed.protocol}`);
  }
  return url;
}

function checkExpected(expected: unknown): ReadonlySet<number> | undefined {
  if (expected === undefined) return undefined;
  const list = Array.isArray(expected) ? expected : [expected];
  if (list.length === 0) throw new ConfigError('check.expectedStatus', 'must not be an empty list');
  for (const status of list) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new ConfigError('check.expectedStatus', `must be HTTP statuses (100-599), got ${String(status)}`);
    }
  }
  return new Set(list as number[]);
}
