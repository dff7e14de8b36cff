import { ConfigError, HttpError, ResilienceError } from './errors.js';
import type { HttpClassification } from './errors.js';
import { parseRetryAfter } from './retryAfter.js';
import { readProperty } from './readProperty.js';

/** A fetch `Headers`, or a plain record such as Node's `IncomingHttpHeaders` (any case). */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | number | undefined>>;

export interface HttpFailureInput {
  /** The response status; when given, it decides (the error is ignored). */
  readonly status?: number;
  readonly headers?: HeadersLike;
  /** What the call threw: a network error, an abort, an `HttpError`, a client library's error. */
  readonly error?: unknown;
  /** The clock `Retry-After` dates are measured against; defaults to `Date.now()`. */
  readonly nowMs?: number;
}

/**
 * Says whether a call that ended with `status` (and `headers`), or threw `error`, succeeded,
 * may be retried, was rate-limited (with the delay the server asked for), hit a conflict, or
 * failed for good.
 *
 * - 2xx and 304 → success. 408, 425, 500, 502, 503, 504 and every other 5xx → retryable.
 *   429 → rate-limited. 409 → conflict. Every other 4xx, 1xx and 3xx → permanent.
 *   A valid `Retry-After` on a retryable or rate-limited response becomes `retryAfterMs`.
 * - Status 0 (a fetch `Response.error()`, an opaque response) → retryable: the request
 *   never got an answer that can be read.
 * - Errors are read by `code`, `name`, `status` and their `cause` chain (and an
 *   `AggregateError`'s `errors`), never by message text. See `RETRYABLE_CODES` for the
 *   network codes; every undici `UND_ERR_*` code is retryable except those that mean the
 *   request itself is wrong. Aborts (`AbortError`, `TimeoutError`) are retryable: an abort
 *   says nothing about whether the request is valid, and "permanent" would let a caller
 *   throw away work that a shutdown merely interrupted.
 * - A `TypeError` with no code anywhere in its chain is retryable: it is how browsers' fetch
 *   reports a network failure (and a CORS refusal), with nothing else to tell them apart.
 * - Any other error → permanent.
 */
export function classifyHttpFailure(input: HttpFailureInput): HttpClassification {
  if (input === null || typeof input !== 'object') {
    throw new ConfigError('input', 'must be an object { status?, headers?, error?, nowMs? }');
  }
  const { status, headers, error, nowMs } = input;
  if (nowMs !== undefined && (typeof nowMs !== 'number' || !Number.isFinite(nowMs))) {
    throw new ConfigError('nowMs', 'must be a finite number of milliseconds since the epoch');
  }
  if (status !== undefined) return classifyStatus(checkStatus(status, 'status'), headers, nowMs);
  if ('error' in input) return classifyError(error, nowMs);
  throw new ConfigError('input', 'needs a status or an error');
}

/** True when `classifyHttpFailure({ error })` says retryable or rate-limited: a retry predicate. */
export function isTransientFailure(error: unknown): boolean {
  const { kind } = classifyHttpFailure({ error });
  return kind === 'retryable' || kind === 'rate-limited';
}

/**
 * Turns a failed response into an `HttpError` (carrying `retryAfterMs` when the server sent a
 * valid `Retry-After`), for `if (!res.ok) throw httpErrorFromResponse(res)`.
 * A successful response is a caller bug and throws a `ConfigError`.
 */
export function httpErrorFromResponse(
  response: { readonly status: number; readonly headers?: HeadersLike },
  nowMs?: number,
): HttpError {
  if (response === null || typeof response !== 'object') {
    throw new ConfigError('response', 'must be an object with a numeric status');
  }
  const status = checkStatus(response.status, 'response.status');
  const classification = classifyHttpFailure({ status, headers: response.headers, nowMs });
  if (classification.kind === 'success') {
    throw new ConfigError('response.status', `${status} is a success, not a failure`);
  }
  return new HttpError(status, classification);
}

/** Reads one header from a `Headers` or a plain record, whatever the case of its name. */
export function getHeader(headers: HeadersLike | undefined, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  try {
    if (typeof (headers as { get?: unknown }).get === 'function') {
      return headerValue((headers as { get(name: string): unknown }).get(name));
    }
    const lower = name.toLowerCase();
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() !== lower) continue;
      const value = headerValue((headers as Record<string, unknown>)[key]);
      if (value !== undefined) return value;
    }
  } catch {
    // Headers often come from whatever a client library threw: a throwing get(), getter or
    // Proxy trap must read as a missing header, not break the classification around it.
  }
  return undefined;
}

// Only a string leaves getHeader: a look-alike get() may return anything, a Proxy included.
function headerValue(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length > 0 ? String(value[0]) : undefined;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  return undefined;
}

/**
 * Network error codes (Node's system errors and a few of its own) that mean "the request may
 * not have reached the server, or its answer did not get back: try again".
 *
 * ENOTFOUND is here on purpose. It is also what a misspelt host gives, but it is what an
 * offline laptop or a container whose DNS is not up yet gives too, and "permanent" would
 * make a caller discard work that a later attempt would have delivered. A host that never
 * resolves still shows up: retries run out and the last reason says ENOTFOUND.
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', // includes Node's "socket hang up"
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EADDRNOTAVAIL',
  'ABORT_ERR',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_NETWORK', // axios: no response at all (offline browser, CORS, DNS), XHR and fetch adapters
  'ERR_CANCELED', // axios and got: the call was cancelled, an abort by another name
]);

/** undici codes that say the request (or the client's set-up) is wrong: retrying repeats it. */
const PERMANENT_UNDICI_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'UND_ERR_BPL_MISSING_UPSTREAM',
]);

/** DOMException and AbortError names that mean the call was cut short, not refused. */
const RETRYABLE_NAMES: ReadonlySet<string> = new Set([
  'AbortError',
  'TimeoutError',
  'NetworkError',
  'CanceledError', // axios
  'CancelError', // got
]);

const STATUS_TEXT: Readonly<Record<number, string>> = {
  0: 'network error',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  425: 'Too Early',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function checkStatus(status: unknown, option: string): number {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 999) {
    throw new ConfigError(option, `must be an integer HTTP status (0-999), got ${String(status)}`);
  }
  return status;
}

function classifyStatus(
  status: number,
  headers: HeadersLike | undefined,
  nowMs: number | undefined,
): HttpClassification {
  const reason = STATUS_TEXT[status] === undefined ? `HTTP ${status}` : `${status} ${STATUS_TEXT[status]}`;
  if ((status >= 200 && status < 300) || status === 304) return { kind: 'success', reason };
  if (status === 409) return { kind: 'conflict', reason };
  let kind: HttpClassification['kind'];
  if (status === 429) kind = 'rate-limited';
  else if (status === 0 || status === 408 || status === 425 || (status >= 500 && status < 600)) {
    kind = 'retryable';
  } else return { kind: 'permanent', reason };
  const retryAfterMs = parseRetryAfter(getHeader(headers, 'retry-after'), nowMs);
  return retryAfterMs === undefined ? { kind, reason } : { kind, retryAfterMs, reason };
}

const MAX_CHAIN = 16;

function classifyError(error: unknown, nowMs: number | undefined): HttpClassification {
  // Walk the error, its causes and an AggregateError's members, breadth first, bounded and
  // safe against cycles; the first link that says something decides.
  const queue: unknown[] = [error];
  const seen = new Set<unknown>();
  let unknownCode: string | undefined;
  for (let i = 0; i < queue.length && seen.size < MAX_CHAIN; i++) {
    const link = queue[i];
    if (link === null || typeof link !== 'object' || seen.has(link)) continue;
    seen.add(link);
    const decided = classifyLink(link, nowMs);
    if (decided !== undefined) return decided;
    const code = readProperty(link, 'code');
    if (typeof code === 'string' && unknownCode === undefined) unknownCode = code;
    const cause = readProperty(link, 'cause');
    if (cause !== undefined) queue.push(cause);
    for (const m of readMembers(link)) queue.push(m);
  }
  if (unknownCode !== undefined) return { kind: 'permanent', reason: `error code ${unknownCode}` };
  if (readProperty(error, 'name') === 'TypeError') {
    return { kind: 'retryable', reason: 'TypeError without a code (how fetch reports a network failure)' };
  }
  const name = readProperty(error, 'name');
  return {
    kind: 'permanent',
    reason: typeof name === 'string' ? `unrecognised ${name}` : 'unrecognised error',
  };
}

function classifyLink(link: object, nowMs: number | undefined): HttpClassification | undefined {
  const kind = ownKind(link);
  switch (kind) {
    case undefined:
      break;
    case 'http': {
      const classification = readProperty(link, 'classification');
      if (classification !== null && typeof classification === 'object') {
        return classification as HttpClassification;
      }
      // Its classification cannot be read: its status decides, as for any error carrying one.
      break;
    }
    case 'timeout':
    case 'cancelled':
    case 'bulkhead-rejected':
    case 'circuit-isolated':
    case 'fault-injected':
      return { kind: 'retryable', reason: kind };
    case 'circuit-open': {
      const ms = readProperty(link, 'retryAfterMs');
      return validDelay(ms)
        ? { kind: 'retryable', retryAfterMs: ms, reason: kind }
        : { kind: 'retryable', reason: kind };
    }
    case 'config':
    case 'fault-injection-refused':
      return { kind: 'permanent', reason: kind };
    default:
      // 'retries-exhausted' and any kind added later: what it wraps decides.
      return undefined;
  }
  // A client library's error that carries the response (fetch wrappers, axios, got, undici's
  // ResponseStatusCodeError): the status decides, as if the response had been given.
  const response = readProperty(link, 'response');
  const status =
    asStatus(readProperty(link, 'status')) ??
    asStatus(readProperty(link, 'statusCode')) ??
    asStatus(readProperty(response, 'status'));
  if (status !== undefined && (status < 200 || status >= 400)) {
    const headers = (readProperty(link, 'headers') ?? readProperty(response, 'headers')) as
      HeadersLike | undefined;
    const result = classifyStatus(status, headers, nowMs);
    const own = readProperty(link, 'retryAfterMs');
    if (
      result.retryAfterMs === undefined &&
      validDelay(own) &&
      result.kind !== 'permanent' &&
      result.kind !== 'conflict'
    ) {
      return { ...result, retryAfterMs: own };
    }
    return result;
  }
  const code = readProperty(link, 'code');
  if (typeof code === 'string') {
    if (RETRYABLE_CODES.has(code)) return { kind: 'retryable', reason: `network error ${code}` };
    if (code.startsWith('UND_ERR_')) {
      return PERMANENT_UNDICI_CODES.has(code)
        ? { kind: 'permanent', reason: `request error ${code}` }
        : { kind: 'retryable', reason: `network error ${code}` };
    }
  }
  const name = readProperty(link, 'name');
  if (typeof name === 'string' && RETRYABLE_NAMES.has(name)) return { kind: 'retryable', reason: name };
  return undefined;
}

/**
 * The kind of one of this package's errors; undefined for any other link. Guarded, and read
 * once: `instanceof` runs a Proxy's getPrototypeOf trap (and throws on a revoked Proxy), and a
 * Proxy may throw, or answer differently, on every read.
 */
function ownKind(link: object): unknown {
  try {
    return link instanceof ResilienceError ? link.kind : undefined;
  } catch {
    return undefined;
  }
}

const NO_MEMBERS: readonly unknown[] = [];

/** An AggregateError's members, bounded; none when they cannot be read (a Proxy that throws). */
function readMembers(link: object): readonly unknown[] {
  const members = readProperty(link, 'errors');
  try {
    return Array.isArray(members) ? members.slice(0, MAX_CHAIN) : NO_MEMBERS;
  } catch {
    return NO_MEMBERS;
  }
}

function asStatus(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 999
    ? value
    : undefined;
}

function validDelay(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
