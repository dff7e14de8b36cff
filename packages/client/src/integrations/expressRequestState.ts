import {
  ABORTED_STATUS,
  HttpTagCache,
  methodTag,
  RouteName,
  statusTag,
  UNMATCHED_ROUTE,
  type HttpTags,
  type StatusTagMode,
} from './httpTags.js';
import { IntegrationOptionError } from './errors.js';
import { resolveTimingOptions, type HttpTimingOptions } from './httpServerOptions.js';
import { readField } from './readField.js';
import { routePattern } from './routePattern.js';
import { RoutePatternMemo } from './RoutePatternMemo.js';
import { checkTelemetry } from './shieldTelemetry.js';
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

/** The state of a request Express has had (see `readField`). */
function stateOf(req: object): RequestState | undefined {
  const state = readField(req, STATE) as RequestState | undefined;
  return state !== undefined || !anyFrozen ? state : frozenStates.get(req);
}

/**
 * The state of a request as it arrives, before Express swaps its prototype: Node's requests share
 * a hidden class, so V8 caches this read (a state is not there yet), where `Reflect.get` would
 * look for it through every prototype.
 */
function arrivedStateOf(req: object): RequestState | undefined {
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
  /** The route's name, given when it was assigned (undefined: none, or junk that had no name). */
  name: RouteName | undefined;
  /** `req.method` when the route was assigned: the method it matched. */
  method: unknown;
  started: number;
  recorder: Recorder | undefined;
  /** The request and its response, once it is timed. */
  req: ExpressRequestLike | undefined;
  res: ExpressResponseLike | undefined;
  /** The accessor is on the request's prototype (else on the request itself). */
  onProto: boolean;
}

function newState(route: RequestState['route'], onProto: boolean): RequestState {
  return {
    route,
    name: undefined,
    method: undefined,
    started: 0,
    recorder: undefined,
    req: undefined,
    res: undefined,
    onProto,
  };
}

/** Route names by route object and mount text, shared by every app in the process. */
const names = new RoutePatternMemo();

/** Requests no route matched: one name (and one tags slot) for all of them. */
const UNMATCHED = new RouteName(UNMATCHED_ROUTE);

// Express assigns `req.route` when a route matches, inside the router that owns it; the route is
// named at that moment, because by the time an error reaches an app-level handler the router has
// put `req.baseUrl` back, and by the time the response closes the params are the route's (the
// mount's `:org` is gone). Shared functions: no closure per request.
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
  state.name = undefined;
  try {
    state.method = readField(this, 'method');
    if (route !== undefined && route !== null) {
      state.name = names.name(route, readField(this, 'baseUrl'), this);
    }
  } catch {}
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
  let state = arrivedStateOf(req);
  if (state === undefined) keepState(req, (state = newState(undefined, onProto)));
  return state;
}

/** The route name of a request, as known now (`state`: its state, when the caller has it). */
function routeNameOf(req: ExpressRequestLike, state: RequestState | undefined): RouteName {
  try {
    if (state !== undefined && routedThroughAccessor(req, state)) return state.name ?? UNMATCHED;
    // Error handler used without the timing middleware: the best Express tells at this point.
    const route = readField(req, 'route') as ExpressRequestLike['route'] | null;
    return route === undefined || route === null
      ? UNMATCHED
      : new RouteName(routePattern(readField(req, 'baseUrl'), undefined, route.path));
  } catch {
    return UNMATCHED;
  }
}

/**
 * `req.route` is our accessor (on the prototype or the request), unless a router whose request
 * prototype is not watched assigned `route` as a plain property of the request. `Object.hasOwn`
 * for the usual case: it answers without the runtime call a property descriptor costs.
 */
function routedThroughAccessor(req: ExpressRequestLike, state: RequestState): boolean {
  return state.onProto
    ? !Object.hasOwn(req, 'route')
    : Object.getOwnPropertyDescriptor(req, 'route')?.get === getRoute;
}

/** The route pattern of a request, as known now (`state`: its state, when the caller has it). */
export function routeOf(req: ExpressRequestLike, state = stateOf(req)): string {
  return routeNameOf(req, state).pattern;
}

/** 'close' comes once per response, after 'finish' or when the client went away. */
function onClose(this: RequestState): void {
  if (this.recorder !== undefined) this.recorder(this.req!, this.res!, this);
}

/**
 * Starts timing a request: its `recorder` is called once, when the response closes. The listener
 * is one shared function bound to the request's state: finding the request and its state from the
 * response (`res.req`, then `req[STATE]`) costs two lookups on Express's objects (see
 * `readField`), and a closure made per request was never optimised by V8 in a loaded server
 * (`--trace-opt`), where the shared function is.
 */
export function timeRequest(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  state: RequestState,
  started: number,
  recorder: Recorder,
): void {
  state.started = started;
  state.recorder = recorder;
  state.req = req;
  state.res = res;
  res.on('close', onClose.bind(state));
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
  const finished = readField(res, 'finished');
  const outputSize = readField(res, 'outputSize');
  if (typeof finished !== 'boolean' || typeof outputSize !== 'number') {
    return readField(res, 'writableFinished') as boolean | undefined;
  }
  if (!finished || outputSize !== 0) return false;
  const socket = readField(res, 'socket') as { writableLength?: number } | null | undefined;
  return socket === null || socket === undefined || socket.writableLength === 0;
}

/** What a recorder needs to turn a closed response into `timing(metric, ms, tags)`. */
export interface RecorderSettings {
  metric: string;
  statusTag: StatusTagMode;
  now: () => number;
  route: ((request: ExpressRequestLike) => string | undefined) | undefined;
}

/** The options `homingExpress` and `instrumentExpress` share: what to skip, the clock, and the recorder. */
export interface ExpressTimingOptions extends HttpTimingOptions<ExpressRequestLike> {
  route?: (request: ExpressRequestLike) => string | undefined;
}

/**
 * Checks the telemetry and options of an Express timing integration (throws
 * IntegrationOptionError) and answers its settings. The telemetry is only checked: the recorder
 * calls `telemetry.timing` in its own catch-all.
 */
export function expressTiming(
  telemetry: HttpServerTelemetry,
  options: ExpressTimingOptions | undefined,
): { skip: ((request: ExpressRequestLike) => boolean) | undefined; now: () => number; record: Recorder } {
  checkTelemetry(telemetry, ['timing']);
  const o = resolveTimingOptions(options);
  const customRoute = options?.route;
  if (customRoute !== undefined && typeof customRoute !== 'function') {
    throw new IntegrationOptionError('route', 'must be a function');
  }
  const record = timingRecorder(telemetry, {
    metric: o.metric,
    statusTag: o.statusTag,
    now: o.now,
    route: customRoute,
  });
  return { skip: o.skip, now: o.now, record };
}

/**
 * Records a closed response's duration with its method, route and status tags. Never throws.
 * `telemetry.timing` is called here as a method, inside the recorder's own catch-all, instead of
 * through `shieldTelemetry`'s wrapper (the integrations only `checkTelemetry` at set-up): the
 * wrapper did nothing the catch-all does not, and it was one more function, closure and object
 * to reach per request, each likely out of the CPU's caches in a loaded server
 * (see `MetricRegistry.record`). Two apps served side by side in one process, one per build,
 * loaded at once: 6.9 % fewer of Homing's CPU samples per request without it (3 processes x 15 s).
 */
export function timingRecorder(
  telemetry: Pick<HttpServerTelemetry, 'timing'>,
  settings: RecorderSettings,
): Recorder {
  const { metric, statusTag: mode, now, route: customRoute } = settings;
  const tagCache = new HttpTagCache();
  return (req, res, state) => {
    try {
      state.recorder = undefined;
      const duration = now() - state.started;
      const status = responseFinished(res) === false ? ABORTED_STATUS : readField(res, 'statusCode');
      let tags: HttpTags | undefined;
      if (customRoute !== undefined) {
        try {
          const named = customRoute(req);
          if (typeof named === 'string' && named !== '') {
            tags = tagCache.get(
              methodTag(readField(req, 'method')),
              named,
              status === ABORTED_STATUS ? ABORTED_STATUS : statusTag(status, mode),
            );
          }
        } catch {}
      }
      if (tags === undefined) {
        const name = routeNameOf(req, state);
        const method = name === state.name ? state.method : readField(req, 'method');
        tags = tagCache.forRoute(name, method, status, mode);
      }
      telemetry.timing(metric, duration >= 0 ? duration : 0, tags);
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
