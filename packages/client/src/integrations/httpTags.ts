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

  /**
   * The tags of a request to `route`, as `get` answers them: `method` as the request has it,
   * `status` its status code, or `ABORTED_STATUS`.
   */
  forRoute(route: RouteName, method: unknown, status: unknown, mode: StatusTagMode): HttpTags {
    if (route.lastCache === this && route.lastMethod === method && route.lastStatus === status) {
      return route.lastTags!;
    }
    const tags = this.get(
      methodTag(method),
      route.pattern,
      status === ABORTED_STATUS ? ABORTED_STATUS : statusTag(status, mode),
    );
    route.lastCache = this;
    route.lastMethod = method;
    route.lastStatus = status;
    route.lastTags = tags;
    return tags;
  }

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

/**
 * A route's name (its pattern), handed out once per route and mount text by `RoutePatternMemo`
 * and kept by each request that matched it, with the tags its last timed request got: the
 * requests of a route mostly share their method and status, so the next one is tagged by three
 * comparisons instead of three Map lookups and a status string (a loaded server's profile put the
 * tagging of each request at about a tenth of Homing's time).
 */
export class RouteName {
  /** What the tags below were made from, and the cache (one per instrumentation) that made them. */
  lastCache: HttpTagCache | undefined = undefined;
  lastMethod: unknown = undefined;
  lastStatus: unknown = undefined;
  lastTags: HttpTags | undefined = undefined;

  constructor(readonly pattern: string) {}
}
