import type { Severity } from '../features/errors/types.js';
import { IntegrationOptionError } from './errors.js';
import { errorStatus, type StatusTagMode } from './httpTags.js';
import { monotonicClock } from './monotonicClock.js';

/** How requests are timed (Express middleware, Fastify plugin). */
export interface HttpTimingOptions<Req> {
  /** Metric the durations go to. Default `'http.server.duration'`. */
  metric?: string;
  /** Status tag: `'code'` (`404`, default) or `'class'` (`4xx`, fewer series). */
  statusTag?: StatusTagMode;
  /** Requests not timed (health checks, static files). Default none. A throw counts as false. */
  skip?: (request: Req) => boolean;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

/** Which errors are captured and what goes with them. Query strings, headers and bodies only on request. */
export interface HttpCaptureOptions<Req> {
  /**
   * Which errors to capture, given the status the response gets. Default: 5xx (and errors
   * without a status), so a 404 or a validation 400 is not reported as a bug.
   */
  shouldCapture?: (error: unknown, status: number, request: Req) => boolean;
  /** Severity of captured errors. Default `'error'`. */
  severity?: Severity;
  /** Put the request path (without query) in the error's context. Default false (paths can carry ids and names). */
  includePath?: boolean;
  /** Put the raw query string in the error's context. Default false. */
  includeQuery?: boolean;
  /** Request headers (lower-case names) put in the error's context. Default none. */
  includeHeaders?: readonly string[];
  /** Put the parsed request body in the error's context. Default false. */
  includeBody?: boolean;
}

export const HTTP_SERVER_DEFAULTS = Object.freeze({
  metric: 'http.server.duration',
  statusTag: 'code' as StatusTagMode,
  severity: 'error' as Severity,
  includePath: false,
  includeQuery: false,
  includeHeaders: Object.freeze([]) as readonly string[],
  includeBody: false,
});

const SEVERITIES: readonly string[] = ['debug', 'info', 'warning', 'error', 'fatal'];

export interface ResolvedTiming<Req> {
  metric: string;
  statusTag: StatusTagMode;
  skip: ((request: Req) => boolean) | undefined;
  now: () => number;
}

export interface ResolvedCapture<Req> {
  shouldCapture: (error: unknown, status: number, request: Req) => boolean;
  severity: Severity;
  includePath: boolean;
  includeQuery: boolean;
  includeHeaders: readonly string[];
  includeBody: boolean;
}

export function defaultShouldCapture(_error: unknown, status: number): boolean {
  return status >= 500;
}

function options(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IntegrationOptionError('options', 'must be an object');
  }
  return value as Record<string, unknown>;
}

function optionalFunction(o: Record<string, unknown>, name: string): void {
  if (o[name] !== undefined && typeof o[name] !== 'function') {
    throw new IntegrationOptionError(name, 'must be a function');
  }
}

function optionalBoolean(o: Record<string, unknown>, name: string): void {
  if (o[name] !== undefined && typeof o[name] !== 'boolean') {
    throw new IntegrationOptionError(name, 'must be a boolean');
  }
}

export function resolveTimingOptions<Req>(input: HttpTimingOptions<Req> | undefined): ResolvedTiming<Req> {
  const o = options(input);
  const metric = o['metric'] ?? HTTP_SERVER_DEFAULTS.metric;
  if (typeof metric !== 'string' || metric.length === 0 || metric.length > 200) {
    throw new IntegrationOptionError('metric', 'must be a non-empty string of at most 200 characters');
  }
  const statusTag = o['statusTag'] ?? HTTP_SERVER_DEFAULTS.statusTag;
  if (statusTag !== 'code' && statusTag !== 'class') {
    throw new IntegrationOptionError('statusTag', "must be 'code' or 'class'");
  }
  optionalFunction(o, 'skip');
  optionalFunction(o, 'now');
  const now = (o['now'] as (() => number) | undefined) ?? monotonicClock();
  return { metric, statusTag, skip: o['skip'] as ResolvedTiming<Req>['skip'], now };
}

export function resolveCaptureOptions<Req>(input: HttpCaptureOptions<Req> | undefined): ResolvedCapture<Req> {
  const o = options(input);
  optionalFunction(o, 'shouldCapture');
  for (const name of ['includePath', 'includeQuery', 'includeBody']) optionalBoolean(o, name);
  const severity = o['severity'] ?? HTTP_SERVER_DEFAULTS.severity;
  if (typeof severity !== 'string' || !SEVERITIES.includes(severity)) {
    throw new IntegrationOptionError('severity', `must be one of ${SEVERITIES.join(', ')}`);
  }
  const headers = o['includeHeaders'] ?? HTTP_SERVER_DEFAULTS.includeHeaders;
  if (!Array.isArray(headers) || headers.some((h) => typeof h !== 'string' || h.length === 0)) {
    throw new IntegrationOptionError('includeHeaders', 'must be a list of header names');
  }
  return {
    shouldCapture: (o['shouldCapture'] as ResolvedCapture<Req>['shouldCapture']) ?? defaultShouldCapture,
    severity: severity as Severity,
    includePath: (o['includePath'] as boolean | undefined) ?? HTTP_SERVER_DEFAULTS.includePath,
    includeQuery: (o['includeQuery'] as boolean | undefined) ?? HTTP_SERVER_DEFAULTS.includeQuery,
    includeHeaders: Object.freeze(headers.map((h: string) => h.toLowerCase())),
    includeBody: (o['includeBody'] as boolean | undefined) ?? HTTP_SERVER_DEFAULTS.includeBody,
  };
}

/** The status an error response gets when the framework has not set one yet. */
export function statusOfError(error: unknown, responseStatus: unknown): number {
  const own = errorStatus(error);
  if (own !== undefined) return own;
  return typeof responseStatus === 'number' && responseStatus >= 400 && responseStatus <= 599
    ? responseStatus
    : 500;
}

/** What is known of the request an error happened in, before the options pick what is sent. */
export interface RequestFacts {
  method: string;
  route: string;
  status: number;
  /** Raw URL as received (path and query). */
  url: unknown;
  headers: unknown;
  body: unknown;
}

/** The `captureError` context of an error in a request, with only what the options allow. */
export function requestCaptureContext(
  facts: RequestFacts,
  o: Omit<ResolvedCapture<unknown>, 'shouldCapture'>,
  statusTag: string,
): { severity: Severity; tags: Record<string, string>; context: Record<string, unknown> } {
  const request: Record<string, unknown> = { method: facts.method, route: facts.route, status: facts.status };
  if (o.includePath || o.includeQuery) {
    const url = typeof facts.url === 'string' ? facts.url : '';
    const q = url.indexOf('?');
    if (o.includePath) request['path'] = q >= 0 ? url.slice(0, q) : url;
    if (o.includeQuery) request['query'] = q >= 0 ? url.slice(q + 1) : '';
  }
  if (o.includeHeaders.length > 0 && typeof facts.headers === 'object' && facts.headers !== null) {
    const headers: Record<string, unknown> = {};
    for (const name of o.includeHeaders) {
      const value = (facts.headers as Record<string, unknown>)[name];
      if (value !== undefined) headers[name] = value;
    }
    request['headers'] = headers;
  }
  if (o.includeBody && facts.body !== undefined) request['body'] = facts.body;
  return {
    severity: o.severity,
    tags: { 'http.method': facts.method, 'http.route': facts.route, 'http.status': statusTag },
    context: { request },
  };
}
