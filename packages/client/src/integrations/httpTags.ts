/**
 * Tag values of the HTTP timings, each from a small fixed set, so a metric's series stay few
 * whatever the traffic: a scanner sending `FOO /x?y=1` must not create series.
 */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);

/** Route tag of requests no route matched (404s, middleware answers): one series, not one per URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Status tag of a request whose client went away before the response was finished. */
export const ABORTED_STATUS = 'aborted';

/** `code` (`200`, `404`) or `class` (`2xx`, `4xx`). */
export type StatusTagMode = 'code' | 'class';

/** The request method upper-cased, or `OTHER` for anything outside the standard nine. */
export function methodTag(method: unknown): string {
  if (typeof method !== 'string') return 'OTHER';
  // Node hands the parser's own method strings: a Set hit, without upper-casing a copy first.
  if (METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return METHODS.has(upper) ? upper : 'OTHER';
}

/** `404` or `4xx`; `other` for anything that is not an HTTP status (a bad `statusCode`). */
export function statusTag(status: unknown, mode: StatusTagMode): string {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return 'other';
  return mode === 'class' ? `${Math.floor(status / 100)}xx` : String(status);
}

/** The status an error asks for (`http-errors`' `status` / `statusCode`), or undefined. */
export function errorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  try {
    const e = error as { status?: unknown; statusCode?: unknown };
    const status = typeof e.status === 'number' ? e.status : e.statusCode;
    return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599
      ? status
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Frozen `{ method, route, status }` tag objects, one per combination: the performance
 * tracker recognises a frozen object it has seen by identity, so a request costs a Map lookup
 * instead of a new object to key. Bounded: past `max` entries it starts over (a custom route
 * namer could name without end; the tracker's own series budget still applies).
 */
export class HttpTagCache {
  /** route → status → method → tags: lookups by the strings as given, no key string built per request. */
  readonly #entries = new Map<string, Map<string, Map<string, HttpTags>>>();
  #size = 0;

  constructor(readonly max = 1000) {}

  get(method: string, route: string, status: string): HttpTags {
    const byStatus = this.#entries.get(route);
    const byMethod = byStatus?.get(status);
    const tags = byMethod?.get(method);
    return tags ?? this.#add(method, route, status);
  }

  #add(method: string, route: string, status: string): HttpTags {
    if (this.#size >= this.max) {
      this.#entries.clear();
      this.#size = 0;
    }
    let byStatus = this.#entries.get(route);
    if (byStatus === undefined) this.#entries.set(route, (byStatus = new Map()));
    let byMethod = byStatus.get(status);
    if (byMethod === undefined) byStatus.set(status, (byMethod = new Map()));
    const tags = Object.freeze({ method, route, status });
    byMethod.set(method, tags);
    this.#size++;
    return tags;
  }
}

export type HttpTags = Readonly<Record<'method' | 'route' | 'status', string>>;
