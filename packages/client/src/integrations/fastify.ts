import { IntegrationOptionError } from './errors.js';
import {
  requestCaptureContext,
  resolveCaptureOptions,
  resolveTimingOptions,
  statusOfError,
  type HttpCaptureOptions,
  type HttpTimingOptions,
} from './httpServerOptions.js';
import { ABORTED_STATUS, HttpTagCache, methodTag, statusTag, UNMATCHED_ROUTE } from './httpTags.js';
import { shieldTelemetry } from './shieldTelemetry.js';
import type { HttpServerTelemetry } from './telemetryLike.js';

/** The parts of Fastify's request the plugin reads (structural: Fastify is not imported). */
export interface FastifyRequestLike {
  method?: string;
  url?: string;
  routeOptions?: { url?: string | undefined };
  is404?: boolean;
  headers?: unknown;
  body?: unknown;
}

/** The parts of Fastify's reply the plugin reads. */
export interface FastifyReplyLike {
  statusCode: number;
  /** Fastify ≥ 4.24: ms since the request reached its route; `getResponseTime()` before that. */
  elapsedTime?: number;
  getResponseTime?(): number;
}

/** What the plugin calls on the Fastify instance. */
export interface FastifyInstanceLike {
  addHook(name: string, hook: (...args: any[]) => unknown): unknown;
}

export interface HomingFastifyOptions
  extends Omit<HttpTimingOptions<FastifyRequestLike>, 'now'>, HttpCaptureOptions<FastifyRequestLike> {
  /** Where timings and errors go: the client, or any object with `timing` and `captureError`. */
  telemetry: HttpServerTelemetry;
  /** Names the route of a request yourself (answer undefined for the default `routeOptions.url`). */
  route?: (request: FastifyRequestLike) => string | undefined;
  /**
   * Time requests whose client went away before the reply was finished, as `aborted`. Default
   * true. It takes two more hooks per request (`onRequest` and `onRequestAbort`, for which
   * Fastify adds a `close` listener to every request), a cost within the noise of the bench
   * (BENCHMARKS.md). `false` leaves both hooks out and aborted requests untimed.
   */
  timeAborted?: boolean;
}

/** Errors already captured (an error can pass `onError` of nested contexts). */
const seen = new WeakSet<object>();

function routeOf(request: FastifyRequestLike): string {
  try {
    if (request.is404 === true) return UNMATCHED_ROUTE;
    const url = request.routeOptions?.url;
    return typeof url === 'string' && url !== '' ? url : UNMATCHED_ROUTE;
  } catch {
    return UNMATCHED_ROUTE;
  }
}

function elapsed(reply: FastifyReplyLike): number | undefined {
  const value = typeof reply.elapsedTime === 'number' ? reply.elapsedTime : reply.getResponseTime?.();
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, value) : undefined;
}

/**
 * Fastify plugin: `app.register(homingFastify, { telemetry })`. Times every request of the whole
 * app (it is not encapsulated, like plugins wrapped by `fastify-plugin`) into
 * `timing(metric, ms, { method, route, status })` from an `onResponse` hook, with the route
 * pattern (`/users/:id`, prefixes included) and `unmatched` for 404s; captures errors from an
 * `onError` hook (5xx by default). A request whose client went away before its response was
 * finished never reaches `onResponse`: it is timed from `onRequestAbort`, up to the abort, with
 * status `aborted` (as the Express middleware does), so the slow requests that clients give up
 * on stay in the percentiles. No query string, body or raw URL is recorded unless asked for the
 * error context. A wrong option fails `register` (and so `ready()`/`listen()`).
 */
export function homingFastify(
  instance: FastifyInstanceLike,
  options: HomingFastifyOptions,
  done: (error?: Error) => void,
): void {
  let onRequest: (request: FastifyRequestLike, reply: FastifyReplyLike, next: () => void) => void;
  let onResponse: (request: FastifyRequestLike, reply: FastifyReplyLike, next: () => void) => void;
  let onRequestAbort: (request: FastifyRequestLike, next: () => void) => void;
  let timeAborted: boolean;
  let onError: (
    request: FastifyRequestLike,
    reply: FastifyReplyLike,
    error: unknown,
    next: () => void,
  ) => void;
  try {
    if (typeof options !== 'object' || options === null) {
      throw new IntegrationOptionError('options', 'must be an object with a telemetry');
    }
    const { telemetry, route: customRoute, timeAborted: abortedOption, ...rest } = options;
    const t = shieldTelemetry(telemetry, ['timing', 'captureError']);
    if (customRoute !== undefined && typeof customRoute !== 'function') {
      throw new IntegrationOptionError('route', 'must be a function');
    }
    if (abortedOption !== undefined && typeof abortedOption !== 'boolean') {
      throw new IntegrationOptionError('timeAborted', 'must be a boolean');
    }
    timeAborted = abortedOption ?? true;
    const timingOptions = resolveTimingOptions<FastifyRequestLike>({
      metric: rest.metric,
      statusTag: rest.statusTag,
      skip: rest.skip,
    });
    const capture = resolveCaptureOptions<FastifyRequestLike>({
      shouldCapture: rest.shouldCapture,
      severity: rest.severity,
      includePath: rest.includePath,
      includeQuery: rest.includeQuery,
      includeHeaders: rest.includeHeaders,
      includeBody: rest.includeBody,
    });
    const { metric, statusTag: mode, skip } = timingOptions;
    const tagCache = new HttpTagCache();
    const nameRoute = (request: FastifyRequestLike): string => {
      if (customRoute !== undefined) {
        try {
          const named = customRoute(request);
          if (typeof named === 'string' && named !== '') return named;
        } catch {}
      }
      return routeOf(request);
    };

    const record = (request: FastifyRequestLike, reply: FastifyReplyLike, status: string): void => {
      let skipped = false;
      if (skip !== undefined) {
        try {
          skipped = skip(request) === true;
        } catch {}
      }
      const duration = skipped ? undefined : elapsed(reply);
      if (duration !== undefined) {
        t.timing(metric, duration, tagCache.get(methodTag(request.method), nameRoute(request), status));
      }
    };

    // onRequestAbort is given the request only; the reply, whose clock times the request, is
    // kept here from onRequest until the request ends one way or the other. `null`: timed as
    // aborted already, so a late onResponse (an error on the dead socket) does not time it twice.
    const replies = new WeakMap<FastifyRequestLike, FastifyReplyLike | null>();

    onRequest = (request, reply, next) => {
      try {
        replies.set(request, reply);
      } catch {}
      next();
    };

    // Fastify runs onError before the app's error handler (setErrorHandler), so the status the
    // error ends in is not known there: a validation error the handler answers with 400 was
    // captured as a 500. The error waits here for its response; captured at onResponse with
    // the status sent, or at onRequestAbort with the one it would have had.
    const failures = new WeakMap<FastifyRequestLike, unknown>();
    const captureFailure = (request: FastifyRequestLike, status: number | undefined): void => {
      if (!failures.has(request)) return;
      const error = failures.get(request);
      failures.delete(request);
      const isObject = (typeof error === 'object' || typeof error === 'function') && error !== null;
      if (isObject && seen.has(error)) return;
      const answered = status ?? statusOfError(error, undefined);
      let wanted = false;
      try {
        wanted = capture.shouldCapture(error, answered, request) === true;
      } catch {}
      if (!wanted) return;
      if (isObject) seen.add(error);
      const facts = {
        method: methodTag(request.method),
        route: nameRoute(request),
        status: answered,
        url: request.url,
        headers: request.headers,
        body: request.body,
      };
      t.captureError(error, requestCaptureContext(facts, capture, statusTag(answered, 'code')));
    };

    onResponse = (request, reply, next) => {
      try {
        captureFailure(request, reply.statusCode);
      } catch {}
      try {
        if (!timeAborted) {
          record(request, reply, statusTag(reply.statusCode, mode));
        } else {
          if (replies.get(request) !== null) record(request, reply, statusTag(reply.statusCode, mode));
          replies.delete(request);
        }
      } catch {}
      next();
    };

    onRequestAbort = (request, next) => {
      try {
        captureFailure(request, undefined);
      } catch {}
      try {
        const reply = replies.get(request);
        if (reply) {
          replies.set(request, null);
          record(request, reply, ABORTED_STATUS);
        }
      } catch {}
      next();
    };

    onError = (request, _reply, error, next) => {
      try {
        // The first error of a request is the one it failed with (a throwing error handler's
        // error does not reach onError).
        if (!failures.has(request)) failures.set(request, error);
      } catch {}
      next();
    };
  } catch (error) {
    done(error as Error);
    return;
  }
  if (timeAborted) instance.addHook('onRequest', onRequest);
  instance.addHook('onResponse', onResponse);
  if (timeAborted) instance.addHook('onRequestAbort', onRequestAbort);
  instance.addHook('onError', onError);
  done();
}

// What fastify-plugin does: the hooks apply to the app that registers the plugin (and so to
// every route), not only to routes registered inside it.
Object.assign(homingFastify, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'homing',
  [Symbol.for('plugin-meta')]: { name: 'homing' },
});
