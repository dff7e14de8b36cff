import { IntegrationOptionError } from './errors.js';
import {
  requestCaptureContext,
  resolveCaptureOptions,
  resolveTimingOptions,
  statusOfError,
  type HttpCaptureOptions,
  type HttpTimingOptions,
} from './httpServerOptions.js';
import { HttpTagCache, methodTag, statusTag, UNMATCHED_ROUTE } from './httpTags.js';
import { routePattern } from './routePattern.js';
import { shieldTelemetry } from './shieldTelemetry.js';
import type { HttpServerTelemetry } from './telemetryLike.js';

/** The parts of Express's `req` the integration reads (structural: Express is not imported). */
export interface ExpressRequestLike {
  method?: string;
  originalUrl?: string;
  url?: string;
  baseUrl?: string;
  route?: { path?: unknown } | undefined;
  params?: unknown;
  headers?: unknown;
  body?: unknown;
}

/** The parts of Express's `res` the integration reads. */
export interface ExpressResponseLike {
  statusCode: number;
  writableFinished?: boolean;
  locals?: Record<string, any>;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export type ExpressNext = (error?: unknown) => void;

export interface HomingExpressOptions extends HttpTimingOptions<ExpressRequestLike> {
  /**
   * Names the route of a request yourself (answer undefined for the default). Default: the
   * matched route's pattern with its mount path (`/users/:id`), `unmatched` when no route matched.
   */
  route?: (request: ExpressRequestLike) => string | undefined;
}

export type HomingExpressErrorHandlerOptions = HttpCaptureOptions<ExpressRequestLike>;

/** Status tag of a request whose client went away before the response was finished. */
export const ABORTED_STATUS = 'aborted';

/**
 * Each request's state, beside the request rather than on it: adding a property to Express's
 * request objects (large, prototype swapped per request) costs V8 a hidden-class transition,
 * measured (instructions counted under callgrind) at about 10 µs per request, more than the rest
 * of the middleware together. A WeakMap entry measured less, though not by much.
 */
const states = new WeakMap<object, RequestState>();
/** Errors already captured, by any error handler of this module (a router's and the app's). */
const seen = new WeakSet<object>();
/** Express request prototypes (`app.request`, one per app) given the `route` accessor. */
const patched = new WeakSet<object>();
/** The prototype watched last: an app serves its requests with one, so this is the usual hit. */
let lastPatched: object | undefined;

type Recorder = (req: ExpressRequestLike, res: ExpressResponseLike, state: RequestState) => void;

/** One per request: where its route was matched, and when and by whom it is timed. */
interface RequestState {
  route: { path?: unknown } | undefined;
  baseUrl: unknown;
  params: unknown;
  started: number;
  recorder: Recorder | undefined;
  /** The accessor is on the request's prototype (else on the request itself). */
  onProto: boolean;
}

type ResponseWithRequest = ExpressResponseLike & { req?: ExpressRequestLike };

function newState(route: RequestState['route'], onProto: boolean): RequestState {
  return { route, baseUrl: undefined, params: undefined, started: 0, recorder: undefined, onProto };
}

// Express assigns `req.route` when a route matches, inside the router that owns it; the mount
// path and params are read at that moment, because by the time an error reaches an app-level
// handler the router has put `req.baseUrl` back, and by the time the response closes the params
// are the route's (the mount's `:org` is gone). Shared functions: no closure per request.
function getRoute(this: ExpressRequestLike): RequestState['route'] {
  const state = states.get(this);
  return state === undefined ? undefined : state.route;
}
function setRoute(this: ExpressRequestLike, route: RequestState['route']): void {
  let state = states.get(this);
  if (state === undefined) states.set(this, (state = newState(undefined, false)));
  // The router assigns a matched route, then the route's own dispatch assigns it again once the
  // params are the route's: the mount's params are those seen the first time.
  if (route === state.route) return;
  state.route = route;
  state.baseUrl = this.baseUrl;
  state.params = this.params;
}
const ROUTE_ACCESSOR: PropertyDescriptor = {
  get: getRoute,
  set: setRoute,
  enumerable: true,
  configurable: true,
};

/**
 * Puts the `route` accessor where Express will assign through it: once on the app's request
 * prototype (Express's `app.request`, recognised by its own `app` property), so requests keep
 * their shape and pay no `defineProperty`; on the request itself otherwise.
 */
function watchRoute(req: ExpressRequestLike): RequestState {
  const proto: unknown = Object.getPrototypeOf(req);
  // The common case, first: the app's prototype, already watched (nothing sets `route` before).
  if (proto === lastPatched) {
    const state = newState(undefined, true);
    states.set(req, state);
    return state;
  }
  const existing = states.get(req);
  if (existing !== undefined) return existing;
  if (typeof proto === 'object' && proto !== null && !Object.hasOwn(req, 'route')) {
    if (!patched.has(proto) && Object.hasOwn(proto, 'app') && !Object.hasOwn(proto, 'route')) {
      Object.defineProperty(proto, 'route', ROUTE_ACCESSOR);
      patched.add(proto);
    }
    if (patched.has(proto)) {
      lastPatched = proto;
      const state = newState(undefined, true);
      states.set(req, state);
      return state;
    }
  }
  const state = newState(req.route, false);
  states.set(req, state);
  Object.defineProperty(req, 'route', ROUTE_ACCESSOR);
  return state;
}

/** The route pattern of a request, as known now (`state`: its state, when the caller has it). */
function routeOf(req: ExpressRequestLike, state = states.get(req)): string {
  try {
    if (state !== undefined) {
      // Our accessor (on the prototype or the request), unless a router whose request prototype
      // is not watched assigned `route` as a plain property of the request. `Object.hasOwn` for
      // the usual case: it answers without the runtime call a property descriptor costs.
      if (
        state.onProto
          ? !Object.hasOwn(req, 'route')
          : Object.getOwnPropertyDescriptor(req, 'route')?.get === getRoute
      ) {
        return state.route === undefined || state.route === null
          ? UNMATCHED_ROUTE
          : routePattern(state.baseUrl, state.params, state.route.path);
      }
    }
    // Error handler used without the timing middleware: the best Express tells at this point.
    const route = req.route;
    return route === undefined || route === null
      ? UNMATCHED_ROUTE
      : routePattern(req.baseUrl, undefined, route.path);
  } catch {
    return UNMATCHED_ROUTE;
  }
}

/** 'close' comes once per response, after 'finish' or when the client went away. */
function onClose(this: ResponseWithRequest): void {
  const req = this.req;
  const state = req === undefined ? undefined : states.get(req);
  if (state !== undefined && state.recorder !== undefined) state.recorder(req!, this, state);
}

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
  const t = shieldTelemetry(telemetry, ['timing']);
  const o = resolveTimingOptions(options);
  const customRoute = options?.route;
  if (customRoute !== undefined && typeof customRoute !== 'function') {
    throw new IntegrationOptionError('route', 'must be a function');
  }
  const { metric, statusTag: mode, skip, now } = o;
  const tagCache = new HttpTagCache();

  const record: Recorder = (req, res, state) => {
    try {
      state.recorder = undefined;
      const duration = now() - state.started;
      let route: string | undefined;
      if (customRoute !== undefined) {
        try {
          const named = customRoute(req);
          if (typeof named === 'string' && named !== '') route = named;
        } catch {}
      }
      const tags = tagCache.get(
        methodTag(req.method),
        route ?? routeOf(req, state),
        res.writableFinished === false ? ABORTED_STATUS : statusTag(res.statusCode, mode),
      );
      t.timing(metric, duration >= 0 ? duration : 0, tags);
    } catch {}
  };

  return function homingExpressMiddleware(req, res, next) {
    try {
      if (skip === undefined || !skipped(skip, req)) {
        const state = watchRoute(req);
        state.started = now();
        state.recorder = record;
        // Node's responses know their request: one shared listener, no closure per request.
        if ((res as ResponseWithRequest).req === req) res.on('close', onClose);
        else
          res.on('close', () => (state.recorder === undefined ? undefined : state.recorder(req, res, state)));
      }
    } catch {}
    next();
  };
}

function skipped<Req>(skip: (request: Req) => boolean, req: Req): boolean {
  try {
    return skip(req) === true;
  } catch {
    return false;
  }
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
        const status = statusOfError(error, res.statusCode);
        let capture = false;
        try {
          capture = o.shouldCapture(error, status, req) === true;
        } catch {}
        if (capture) {
          if (isObject) seen.add(error);
          const facts = {
            method: methodTag(req.method),
            route: routeOf(req),
            status,
            url: req.originalUrl ?? req.url,
            headers: req.headers,
            body: req.body,
          };
          const id = t.captureError(error, requestCaptureContext(facts, o, statusTag(status, 'code')));
          if (id !== undefined && typeof res.locals === 'object' && res.locals !== null) {
            res.locals['homingErrorId'] = id;
          }
        }
      }
    } catch {}
    next(error);
  };
}
