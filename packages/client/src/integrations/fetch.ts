import type { BreadcrumbLevel } from '../features/errors/types.js';
import { IntegrationOptionError } from './errors.js';
import { methodTag, statusTag, type StatusTagMode } from './httpTags.js';
import { shieldTelemetry } from './shieldTelemetry.js';
import type { FetchTelemetry } from './telemetryLike.js';
import { isOwnRequest } from '../platform/ownRequest.js';

/** Any fetch-shaped function (the global one, undici's, node-fetch's, a test double's). */
export type FetchFunction = (input: any, init?: any) => Promise<any>;

/** What a request is known by in breadcrumbs, timings and `ignore`: never its query or fragment. */
export interface FetchRequestSummary {
  method: string;
  /** `protocol//host/path`: no credentials, query string or fragment. */
  url: string;
  host: string;
}

export interface WrapFetchOptions {
  /** Metric of the durations. Default `'http.client.duration'`. */
  metric?: string;
  /** Record a `fetch` breadcrumb per request. Default true (turn off if the error tracker's `fetchBreadcrumbs` is on). */
  breadcrumbs?: boolean;
  /** Record a timing per request. Default true. */
  timings?: boolean;
  /** Status tag: `'code'` (default) or `'class'`. */
  statusTag?: StatusTagMode;
  /** Requests not recorded, e.g. the telemetry's own deliveries. A throw counts as false. */
  ignore?: (request: FetchRequestSummary) => boolean;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

export const WRAP_FETCH_DEFAULTS = Object.freeze({
  metric: 'http.client.duration',
  breadcrumbs: true,
  timings: true,
  statusTag: 'code' as StatusTagMode,
});

/** Why a request got no response; the `status` tag of such a request. */
export type FetchFailureKind = 'aborted' | 'timeout' | 'network' | 'error';

/**
 * A fetch that records, per request, a `fetch` breadcrumb `{ method, url, status, durationMs }`
 * and a timing `metric` tagged `{ method, host, status }` (status: the code, or the failure kind
 * `aborted` / `timeout` / `network` / `error`). Paths go into breadcrumbs only (ids in paths
 * would make a series per URL); query strings, fragments, credentials, headers and bodies are
 * never read. The request, response, rejection and synchronous throw are exactly those of
 * `fetchImpl`, and a throwing telemetry changes none of them.
 */
export function wrapFetch<F extends FetchFunction = typeof globalThis.fetch>(
  telemetry: FetchTelemetry,
  fetchImpl: F = globalThis.fetch as unknown as F,
  options?: WrapFetchOptions,
): F {
  if (typeof fetchImpl !== 'function') {
    throw new IntegrationOptionError('fetchImpl', 'must be a fetch function (no global fetch here?)');
  }
  const o = resolveOptions(options);
  const t = shieldTelemetry(telemetry, [
    ...(o.timings ? (['timing'] as const) : []),
    ...(o.breadcrumbs ? (['addBreadcrumb'] as const) : []),
  ]) as Partial<FetchTelemetry>;
  const { metric, mode, ignore, now } = o;

  const record = (
    request: FetchRequestSummary,
    started: number,
    status: number | null,
    failure?: FetchFailureKind,
  ): void => {
    try {
      const durationMs = Math.max(0, now() - started);
      if (t.timing !== undefined) {
        t.timing(metric, durationMs, {
          method: request.method,
          host: request.host,
          status: status === null ? (failure ?? 'error') : statusTag(status, mode),
        });
      }
      if (t.addBreadcrumb !== undefined) {
        const level: BreadcrumbLevel =
          status === null || status >= 500 ? 'error' : status >= 400 ? 'warning' : 'info';
        const data: Record<string, unknown> = {
          method: request.method,
          url: request.url,
          status,
          durationMs,
        };
        if (failure !== undefined) data['error'] = failure;
        t.addBreadcrumb({
          category: 'fetch',
          level,
          message: `${request.method} ${request.url} ${status ?? failure ?? 'failed'}`,
          data,
        });
      }
    } catch {}
  };

  const wrapped = function homingFetch(...args: unknown[]): unknown {
    let request: FetchRequestSummary | undefined;
    let started = 0;
    try {
      request = isOwnRequest(args[1]) ? undefined : describeRequest(args[0], args[1]);
      if (request !== undefined && ignore !== undefined && ignored(ignore, request)) request = undefined;
      started = now();
    } catch {
      request = undefined;
    }
    if (request === undefined) return fetchImpl(...(args as [unknown, unknown?]));
    const seen = request;
    let pending: unknown;
    try {
      pending = fetchImpl(...(args as [unknown, unknown?]));
    } catch (error) {
      record(seen, started, null, failureKind(error));
      throw error;
    }
    if (typeof (pending as { then?: unknown } | null)?.then !== 'function') return pending;
    return (pending as Promise<unknown>).then(
      (response) => {
        const status = (response as { status?: unknown } | null)?.status;
        record(
          seen,
          started,
          typeof status === 'number' ? status : null,
          typeof status === 'number' ? undefined : 'error',
        );
        return response;
      },
      (error: unknown) => {
        record(seen, started, null, failureKind(error));
        throw error;
      },
    );
  };
  return wrapped as unknown as F;
}

function resolveOptions(input: WrapFetchOptions | undefined): {
  metric: string;
  timings: boolean;
  breadcrumbs: boolean;
  mode: StatusTagMode;
  ignore: ((request: FetchRequestSummary) => boolean) | undefined;
  now: () => number;
} {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw new IntegrationOptionError('options', 'must be an object');
  }
  const o = input ?? {};
  const metric = o.metric ?? WRAP_FETCH_DEFAULTS.metric;
  if (typeof metric !== 'string' || metric.length === 0 || metric.length > 200) {
    throw new IntegrationOptionError('metric', 'must be a non-empty string of at most 200 characters');
  }
  for (const name of ['breadcrumbs', 'timings'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') {
      throw new IntegrationOptionError(name, 'must be a boolean');
    }
  }
  const mode = o.statusTag ?? WRAP_FETCH_DEFAULTS.statusTag;
  if (mode !== 'code' && mode !== 'class')
    throw new IntegrationOptionError('statusTag', "must be 'code' or 'class'");
  for (const name of ['ignore', 'now'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') {
      throw new IntegrationOptionError(name, 'must be a function');
    }
  }
  return {
    metric,
    timings: o.timings ?? WRAP_FETCH_DEFAULTS.timings,
    breadcrumbs: o.breadcrumbs ?? WRAP_FETCH_DEFAULTS.breadcrumbs,
    mode,
    ignore: o.ignore,
    now: o.now ?? (() => performance.now()),
  };
}

function ignored(ignore: (request: FetchRequestSummary) => boolean, request: FetchRequestSummary): boolean {
  try {
    return ignore(request) === true;
  } catch {
    return false;
  }
}

/** Method and URL of a fetch call, read from a string, URL or Request and `init`; never the body. */
export function describeRequest(input: unknown, init: unknown): FetchRequestSummary {
  let method: unknown = 'GET';
  let href = '';
  if (typeof input === 'string') href = input;
  else if (input instanceof URL) href = input.href;
  else if (typeof input === 'object' && input !== null) {
    const { url, method: m } = input as { url?: unknown; method?: unknown };
    if (typeof url === 'string') href = url;
    else if (url instanceof URL) href = url.href;
    if (typeof m === 'string') method = m;
  }
  if (typeof init === 'object' && init !== null) {
    const m = (init as { method?: unknown }).method;
    if (typeof m === 'string') method = m;
  }
  return { method: methodTag(method), ...stripUrl(href) };
}

function stripUrl(href: string): { url: string; host: string } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(href);
  } catch {
    try {
      // Relative URLs in a page resolve against it, as fetch itself does.
      const base = (globalThis as { location?: { href?: unknown } }).location?.href;
      if (typeof base === 'string') parsed = new URL(href, base);
    } catch {}
  }
  if (parsed === undefined) {
    const cut = href.search(/[?#]/);
    return { url: (cut >= 0 ? href.slice(0, cut) : href).slice(0, 2048), host: '(relative)' };
  }
  return { url: `${parsed.protocol}//${parsed.host}${parsed.pathname}`.slice(0, 2048), host: parsed.host };
}

/** `aborted` / `timeout` (AbortSignal reasons), `network` (fetch's TypeError), else `error`. */
export function failureKind(error: unknown): FetchFailureKind {
  try {
    const name = (error as { name?: unknown } | null)?.name;
    if (name === 'AbortError') return 'aborted';
    if (name === 'TimeoutError') return 'timeout';
    if (error instanceof TypeError) return 'network';
  } catch {}
  return 'error';
}
