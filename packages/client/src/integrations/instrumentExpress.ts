import { IntegrationOptionError } from './errors.js';
import type { HomingExpressOptions } from './express.js';
import {
  arrivingRequestState,
  skipped,
  timeRequest,
  expressTiming,
  watchRoutesOf,
  type ExpressRequestLike,
  type ExpressResponseLike,
} from './expressRequestState.js';
import type { HttpServerTelemetry } from './telemetryLike.js';

/**
 * An Express app (`express()`): the prototype Express gives its requests, and `app.handle(req,
 * res, next)`, which Express calls for every request the app serves (checked when instrumented:
 * Express's own types leave it out, as internal).
 */
export interface ExpressAppLike {
  request: object;
}

type AppWithHandle = ExpressAppLike & { handle?: (req: any, res: any, next?: any) => unknown };

/**
 * The same options as `homingExpress`, except that `skip(req)` is asked when the request reaches
 * the app, before its routers: `req` is already Express's (`req.path`, `req.get()`), but has no
 * `route`, `params` or `originalUrl` yet.
 */
export type InstrumentExpressOptions = HomingExpressOptions;

/** An instrumented app; `close()` stops timing its requests (requests under way are still recorded). */
export interface ExpressInstrumentation {
  close(): void;
}

/**
 * Times every request an Express app serves, as `homingExpress` does (`timing(metric, ms,
 * { method, route, status })` when the response closes), without adding a middleware: it
 * wraps the app's own `app.handle`, the function Express calls once per request, so a request
 * does not pay for one more router layer (measured: that layer cost Express about as much as all
 * of Homing's own work per request). Call it before the server starts; pair it with
 * `homingExpressErrorHandler` after the routes for errors. Requests a parent app passes to this
 * one (`parent.use('/shop', app)`) are timed too, once, and named with the mount path.
 */
export function instrumentExpress(
  expressApp: ExpressAppLike,
  telemetry: HttpServerTelemetry,
  options?: InstrumentExpressOptions,
): ExpressInstrumentation {
  const app = expressApp as AppWithHandle;
  if (
    (typeof app !== 'function' && typeof app !== 'object') ||
    app === null ||
    typeof app.handle !== 'function' ||
    typeof app.request !== 'object' ||
    app.request === null
  ) {
    throw new IntegrationOptionError('app', 'must be an Express app (express()), with handle() and request');
  }
  const { skip, now, record } = expressTiming(telemetry, options);
  const appRequest = app.request;
  // The route accessor goes on the app's request prototype now, once; sub-apps mounted later
  // inherit it (Express chains their `request` to the parent's).
  const onProto = watchRoutesOf(appRequest);
  const original = app.handle;
  const ownHandle = Object.hasOwn(app, 'handle');
  let active = true;

  function begin(req: ExpressRequestLike, res: ExpressResponseLike): void {
    try {
      if (skip !== undefined) {
        // What Express is about to do first, done early so that `skip` sees Express's request.
        Object.setPrototypeOf(req, appRequest);
        if (skipped(skip, req)) return;
      }
      const state = arrivingRequestState(req, onProto);
      // Timed already: by an enclosing instrumented app, or by a second instrumentation of this one.
      if (state.recorder === undefined) timeRequest(req, res, state, now(), record);
    } catch {}
  }

  const handle = function homingInstrumentedHandle(
    this: unknown,
    req: ExpressRequestLike,
    res: ExpressResponseLike,
    next?: unknown,
  ): unknown {
    if (active) begin(req, res);
    return original.call(this, req, res, next);
  };
  app.handle = handle;

  return {
    close(): void {
      active = false;
      // Put Express's own back, unless something wrapped ours since (then ours stays, inert).
      if (app.handle !== handle) return;
      if (ownHandle) app.handle = original;
      else delete app.handle;
    },
  };
}
