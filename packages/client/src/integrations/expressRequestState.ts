import {
  ABORTED_STATUS,
  HttpTagCache,
  methodTag,
  statusTag,
  UNMATCHED_ROUTE,
  type StatusTagMode,
} from './httpTags.js';
import { routePattern } from './routePattern.js';
import { RoutePatternMemo } from './RoutePatternMemo.js';
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

/**
 * Each request's state, on the request under a symbol: Express adds its own properties to every
 * request (res, next, baseUrl, params), so one more is a transition V8 has cached. It replaced a
 * WeakMap beside the request, whose get and set (and the collector's work on its entries) were
 * among the largest parts of Homing's time per request in a loaded server (CPU profile). Both
 * versions serving in one process, loaded in turn, the symbol served 2.6 % more requests per
 * CPU-second (4 processes x 16 slices of 2 s). A request that cannot take a property (sealed or
 * frozen) keeps its state in `frozenStates`.
 */
const STATE = Symbol('homing.expressRequestState');
const frozenStates = new WeakMap<object, RequestState>();
let anyFrozen = false;

function stateOf(req: object): RequestState | undefined {
  const state = (req as { [STATE]?: RequestState })[STATE];
  return state !== undefined || !anyFrozen ? state : frozenStates.get(req);
}

function keepState(req: object, state: RequestState): void {
  if (Object.isExtensible(req)) {
    (req as { [STATE]?: RequestState })[STATE] = state;
  } else {
    anyFrozen = true;
    frozenStates.set(req, state);
  }
}

/** Express request prototypes (`app.request`, one per app) given the `route` accessor. */
const patched = new WeakSet<object>();
/** The prototype watched last: an app serves its requests with one, so this is the usual hit. */
let lastPatched: object | undefined;

export type Recorder = (req: ExpressRequestLike, res: ExpressResponseLike, state: RequestState) => void;

/** One per request: where its route was matched, and when and by whom it is timed. */
export interface RequestState {
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
  const state = stateOf(this);
  return state === undefined ? undefined : state.route;
}
function setRoute(this: ExpressRequestLike, route: RequestState['route']): void {
  let state = stateOf(this);
  if (state === undefined) keepState(this, (state = newState(undefined, false)));
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
 * Puts the `route` accessor on an Express request prototype (`app.request`, recognised by its
 * own `app` property) unless it is there already; answers whether the prototype has it.
 */
export function watchRoutesOf(proto: object): boolean {
  if (!patched.has(proto) && Object.hasOwn(proto, 'app') && !Object.hasOwn(proto, 'route')) {
    Object.defineProperty(proto, 'route', ROUTE_ACCESSOR);
    patched.add(proto);
  }
  return patched.has(proto);
}

/**
 * The state of a request met by the middleware, with the `route` accessor where Express will
 * assign through it: once on the app's request prototype, so requests keep their shape and pay
 * no `defineProperty`; on the request itself otherwise.
 */
export function watchRoute(req: ExpressRequestLike): RequestState {
  const proto: unknown = Object.getPrototypeOf(req);
  // The common case, first: the app's prototype, already watched (nothing sets `route` before).
  if (proto === lastPatched) {
    const state = newState(undefined, true);
    keepState(req, state);
    return state;
  }
  const existing = stateOf(req);
  if (existing !== undefined) return existing;
  if (typeof proto === 'object' && proto !== null && !Object.hasOwn(req, 'route') && watchRoutesOf(proto)) {
    lastPatched = proto;
    const state = newState(undefined, true);
    keepState(req, state);
    return state;
  }
  const state = newState(req.route, false);
  keepState(req, state);
  Object.defineProperty(req, 'route', ROUTE_ACCESSOR);
  return state;
}

/**
 * The state of a request arriving at an app whose request prototype has the accessor already
 * (`onProto`): a new one, or the one an enclosing app made (whose `recorder` says it is timed).
 */
export function arrivingRequestState(req: object, onProto: boolean): RequestState {
  let state = stateOf(req);
  if (state === undefined) keepState(req, (state = newState(undefined, onProto)));
  return state;
}

/** Route patterns by route object and mount text, shared by every app in the process. */
const patterns = new RoutePatternMemo();

/** The route pattern of a request, as known now (`state`: its state, when the caller has it). */
export function routeOf(req: ExpressRequestLike, state = stateOf(req)): string {
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
          : patterns.pattern(state.route, state.baseUrl, state.params);
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
  const state = req === undefined ? undefined : stateOf(req);
  if (state !== undefined && state.recorder !== undefined) state.recorder(req!, this, state);
}

/** Starts timing a request: its `recorder` is called once, when the response closes. */
export function timeRequest(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  state: RequestState,
  started: number,
  recorder: Recorder,
): void {
  state.started = started;
  state.recorder = recorder;
  // Node's responses know their request: one shared listener, no closure per request.
  if ((res as ResponseWithRequest).req === req) res.on('close', onClose);
  else res.on('close', () => (state.recorder === undefined ? undefined : state.recorder(req, res, state)));
}

/** The plain fields Node's `ServerResponse.writableFinished` getter is made of. */
interface NodeResponseFields {
  finished?: unknown;
  outputSize?: unknown;
  socket?: { writableLength?: number } | null;
}

/**
 * `res.writableFinished` (the response was handed to the OS whole: not aborted), read from the
 * fields Node's getter reads (`finished && outputSize === 0 && (!socket || socket.writableLength
 * === 0)`) instead of calling it: reached through the prototypes Express swaps in, that one
 * getter call was the costliest line of timing a request (CPU profile of a loaded server: about
 * 0.7 % of its CPU, as much as the rest of the recorder). Responses without those fields (not
 * Node's) answer their own `writableFinished`.
 */
export function responseFinished(res: ExpressResponseLike): boolean | undefined {
  const r = res as NodeResponseFields;
  if (typeof r.finished !== 'boolean' || typeof r.outputSize !== 'number') return res.writableFinished;
  if (!r.finished || r.outputSize !== 0) return false;
  const socket = r.socket;
  return socket === null || socket === undefined || socket.writableLength === 0;
}

/** What a recorder needs to turn a closed response into `timing(metric, ms, tags)`. */
export interface RecorderSettings {
  metric: string;
  statusTag: StatusTagMode;
  now: () => number;
  route: ((request: ExpressRequestLike) => string | undefined) | undefined;
}

/** Records a closed response's duration with its method, route and status tags. Never throws. */
export function timingRecorder(t: Pick<HttpServerTelemetry, 'timing'>, settings: RecorderSettings): Recorder {
  const { metric, statusTag: mode, now, route: customRoute } = settings;
  const tagCache = new HttpTagCache();
  return (req, res, state) => {
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
        responseFinished(res) === false ? ABORTED_STATUS : statusTag(res.statusCode, mode),
      );
      t.timing(metric, duration >= 0 ? duration : 0, tags);
    } catch {}
  };
}

/** `skip(req)`, a throw counting as false. */
export function skipped<Req>(skip: (request: Req) => boolean, req: Req): boolean {
  try {
    return skip(req) === true;
  } catch {
    return false;
  }
}
