import {
  requestCaptureContext,
  resolveCaptureOptions,
  statusOfError,
  type HttpCaptureOptions,
  type HttpTimingOptions,
} from './httpServerOptions.js';
import { methodTag, statusTag } from './httpTags.js';
import {
  routeOf,
  skipped,
  timeRequest,
  expressTiming,
  watchRoute,
  type ExpressRequestLike,
  type ExpressResponseLike,
} from './expressRequestState.js';
import { readField } from './readField.js';
import { shieldTelemetry } from './shieldTelemetry.js';
import type { HttpServerTelemetry } from './telemetryLike.js';

export { ABORTED_STATUS } from './httpTags.js';
export type { ExpressRequestLike, ExpressResponseLike } from './expressRequestState.js';

/** Errors already captured, by any error handler of this module (a router's and the app's). */
const seen = new WeakSet<object>();

export type ExpressNext = (error?: unknown) => void;

export interface HomingExpressOptions extends HttpTimingOptions<ExpressRequestLike> {
  /**
   * Names the route of a request yourself (answer undefined for the default). Default: the
   * matched route's pattern with its mount path (`/users/:id`), `unmatched` when no route matched.
   */
  route?: (request: ExpressRequestLike) => string | undefined;
}

export type HomingExpressErrorHandlerOptions = HttpCaptureOptions<ExpressRequestLike>;

/**
 * Express middleware that times every request into `timing(metric, ms, { method, route,
 * status })` once the response is finished (or the client went away: status `aborted`). Put it
 * first, before the routers. No query string, body or raw URL is recorded. The telemetry's
 * methods are shielded: whatever they do, the request goes on.
 */
export function homingExpress(
  telemetry: HttpServerTelemetry,
  options?: HomingExpressOptions,
): (req: ExpressRequestLike, res: ExpressResponseLike, next: ExpressNext) => void {
  const { skip, now, record } = expressTiming(telemetry, options);

  return function homingExpressMiddleware(req, res, next) {
    try {
      if (skip === undefined || !skipped(skip, req)) timeRequest(req, res, watchRoute(req), now(), record);
    } catch {}
    next();
  };
}

/**
 * Express error middleware (four arguments: put it after the routes, before your own error
 * handlers) that captures the error with the request's method, route and status, puts the
 * error id in `res.locals.homingErrorId`, and passes the error on with `next(err)` unchanged.
 * By default only errors that end in a 5xx are captured; each error object once, however many
 * of these handlers it passes.
 */
export function homingExpressErrorHandler(
  telemetry: HttpServerTelemetry,
  options?: HomingExpressErrorHandlerOptions,
): (error: unknown, req: ExpressRequestLike, res: ExpressResponseLike, next: ExpressNext) => void {
  const t = shieldTelemetry(telemetry, ['captureError']);
  const o = resolveCaptureOptions(options);

  return function homingExpressErrorMiddleware(error, req, res, next) {
    try {
      const isObject = (typeof error === 'object' || typeof error === 'function') && error !== null;
      if (!(isObject && seen.has(error))) {
        const status = statusOfError(error, readField(res, 'statusCode'));
        let capture = false;
        try {
          capture = o.shouldCapture(error, status, req) === true;
        } catch {}
        if (capture) {
          if (isObject) seen.add(error);
          // Only what the options send is read (see `readField`).
          const facts = {
            method: methodTag(readField(req, 'method')),
            route: routeOf(req),
            status,
            url:
              o.includePath || o.includeQuery
                ? (readField(req, 'originalUrl') ?? readField(req, 'url'))
                : undefined,
            headers: o.includeHeaders.length > 0 ? readField(req, 'headers') : undefined,
            body: o.includeBody ? readField(req, 'body') : undefined,
          };
          const id = t.captureError(error, requestCaptureContext(facts, o, statusTag(status, 'code')));
          const locals = readField(res, 'locals');
          if (id !== undefined && typeof locals === 'object' && locals !== null) {
            (locals as Record<string, unknown>)['homingErrorId'] = id;
          }
        }
      }
    } catch {}
    next(error);
  };
}
