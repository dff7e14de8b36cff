import { BodyBytesBudget } from './ingest/bodyBytesBudget.js';
import fastifyCors from '@fastify/cors';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginCallback,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
} from 'fastify';
import { countAbortedRequests } from './abortedRequests.js';
import { trackUnusedConnections, waitForAnswerTurn } from './connections.js';
import { continueWhenBodyIsRead } from './expectContinue.js';
import type { WireFormat } from './ingest/ingestBatch.js';
import { maxBodyDepth } from './ingest/jsonDepth.js';
import { WriteKeys } from './ingest/writeKeys.js';
import { ServerMetrics } from './metrics/serverMetrics.js';
import { storeOutageKind } from './metrics/storeOutageKind.js';
import { TokenBuckets } from './rateLimit/tokenBucket.js';
import { frameworkErrorAnswer, markAdmin, MAX_PARAM_LENGTH } from './frameworkErrors.js';
import { handleError } from './handleError.js';
import { childLoggerFactory, RequestLogController } from './requestLog.js';
import { clientErrorHandler, connectRefusedHandler, expectationFailedHandler } from './routes/clientError.js';
import { CorsPolicy, isPreflight, originRefusal } from './routes/cors.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { nativeRoutes } from './routes/native.js';
import { personsRoutes } from './routes/persons.js';
import { asPostHogError, isPostHogPath, posthogRoutes } from './routes/posthog.js';
import { queryRoutes } from './routes/query.js';
import { isMalformedQuery, parseQueryString } from './routes/queryString.js';
import { segmentErrorShape, segmentRoutes } from './routes/segment.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './serverOptions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on ingest routes: the ingest latency histogram is labelled with it. */
    ingestFormat?: WireFormat;
  }
}

/**
 * Builds the Homing server (not listening yet): ingest in Homing's, PostHog's and Segment's
 * formats, health, readiness, metrics, CORS, a token bucket per project, and 503 with
 * Retry-After for every request that arrives once `close()` began (requests already in
 * flight finish). The store is the caller's: closing the server does not close it.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const o = resolveServerOptions(options);
  const logController = new RequestLogController({ disableRequestLogging: !o.logRequests });
  const metrics = new ServerMetrics();
  const app = Fastify({
    ...loggerOption(o.logger),
    // Request log lines name the route pattern, never the URL (it carries distinct ids).
    logController,
    childLoggerFactory,
    trustProxy: o.trustProxy,
    // Handled below, with Retry-After, so clients know when to come back.
    return503OnClosing: false,
    // A distinct_id is a path segment of the admin API (`/api/persons/:distinct_id/...`): the
    // default 100 characters would refuse long ids that ingest accepted.
    routerOptions: {
      ignoreTrailingSlash: true,
      maxParamLength: MAX_PARAM_LENGTH,
      querystringParser: parseQueryString,
    },
    // The router refuses a path it cannot decode before any route (or error handler) sees it;
    // Fastify's own answer would echo the path, which on the admin API holds a distinct id.
    frameworkErrors: frameworkErrorAnswer({
      corsOrigins: o.corsOrigins,
      metrics,
      logRequests: o.logRequests,
    }),
    // Requests Node refuses before routing (not HTTP, headers too large, 408): answered and
    // counted, and logged by their code only, never their bytes.
    clientErrorHandler: clientErrorHandler(metrics),
    // For routes with Fastify's own JSON parser (the admin API); ingest reads its own bodies.
    bodyLimit: o.maxBodyBytes,
    // Node answers 408 and closes the connection of a request not fully received in time. It
    // looks every connectionsCheckingInterval (its default, 30 s, would double a 30 s limit), and
    // only while headersTimeout is no longer than requestTimeout (it defaults to 60 s).
    requestTimeout: o.requestTimeoutMs,
    // How long an idle kept-alive connection is held (Fastify's default, 72 s, let thousands of
    // idle sockets sit); Node adds 1 s before closing and announces it in `Keep-Alive: timeout=`.
    keepAliveTimeout: o.keepAliveTimeoutMs,
    http: {
      // Node's own 400 for an HTTP/1.1 request without Host was empty and counted nowhere:
      // refused below (refuseMissingHost), as JSON, like any other request.
      requireHostHeader: false,
      ...(o.requestTimeoutMs > 0
        ? {
            connectionsCheckingInterval: Math.min(1000, Math.max(o.requestTimeoutMs, 100)),
            headersTimeout: Math.min(60_000, o.requestTimeoutMs),
          }
        : {}),
    },
  });
  app.server.on('checkExpectation', expectationFailedHandler(metrics));
  app.server.on('connect', connectRefusedHandler(metrics));
  continueWhenBodyIsRead(app.server);

  // Node's own cap: a connection over it is closed as soon as it is accepted.
  if (o.maxConnections > 0) app.server.maxConnections = o.maxConnections;

  let draining = false;
  let forceClose: NodeJS.Timeout | undefined;
  const connections = trackUnusedConnections(app.server);
  app.addHook('preClose', async () => {
    draining = true;
    // Node closes the idle kept-alive connections itself; one that never sent a request would
    // hold close() until forceClose below.
    await connections.destroyUnused();
    // Requests in flight get shutdownGraceMs to finish; then every connection still open (a
    // stalled upload, whose request never completes) is closed, or close() would wait forever.
    forceClose = setTimeout(() => app.server.closeAllConnections(), o.shutdownGraceMs);
    forceClose.unref();
  });
  app.addHook('onClose', async () => {
    clearTimeout(forceClose);
  });
  // Hooks on every request are callback-style: an async hook costs a promise per request.
  const refuseWhileDraining: onRequestHookHandler = (_req, reply, done) => {
    if (!draining) return done();
    void reply
      .code(503)
      .header('retry-after', String(o.retryAfterSeconds))
      .header('connection', 'close')
      .send({ error: 'shutting-down', message: 'the server is shutting down; retry later' });
  };
  const refuseMalformedQuery: onRequestHookHandler = (req, reply, done) => {
    if (!isMalformedQuery(req.query)) return done();
    // Not the query itself: on the admin API it carries distinct ids.
    void reply.code(400).send({
      error: 'invalid-request',
      message:
        'the query string is not valid percent-encoding (each % needs two hex digits, and the bytes UTF-8; a literal % is %25)',
    });
  };
  // OPTIONS is answered only as a CORS preflight; one that is none (no Origin or no
  // Access-Control-Request-Method: `curl -X OPTIONS`, a monitor, a page's fetch with method
  // OPTIONS) got @fastify/cors's text/plain 400 "Invalid Preflight Request", where every other
  // error is JSON in its route's shape. @fastify/cors leaves it to this hook (CorsPolicy), after
  // adding the CORS headers, so a page of an allowed origin can read why.
  const refuseNonPreflightOptions: onRequestHookHandler = (req, reply, done) => {
    if (req.method !== 'OPTIONS' || isPreflight(req)) return done();
    markAdmin(req, reply);
    const refusal = {
      error: 'invalid-request',
      message: 'OPTIONS is answered only as a CORS preflight (with Origin and Access-Control-Request-Method)',
    };
    void reply.code(400).send(isPostHogPath(req.url) ? asPostHogError(400, refusal) : refusal);
  };
  const refuseMissingHost: onRequestHookHandler = (req, reply, done) => {
    if (req.raw.httpVersion !== '1.1' || req.headers.host !== undefined) return done();
    void reply
      .code(400)
      .header('connection', 'close')
      .send({ error: 'invalid-request', message: 'an HTTP/1.1 request needs a Host header' });
  };
  const refuseOtherOrigins = originRefusal(o.corsOrigins);
  // @fastify/cors's hook first, then these (registered after it, at the root): the 400 of an
  // OPTIONS that is no preflight, the 503 of a draining server, the 400 of a malformed query and
  // the 403 of an origin not allowed carry CORS headers like any answer, so a page can read the
  // 503's Retry-After, and caches see Vary: Origin on the 403.
  const cors = new CorsPolicy(o.corsOrigins);
  app.addHook('onRoute', cors.noteRoute);
  void app.register(fastifyCors, cors.options());
  void app.register(
    atRoot((root, _opts, done) => {
      // First: every answer on the admin API says no-store, these refusals included.
      root.addHook('onRequest', (req, reply, done) => {
        markAdmin(req, reply);
        done();
      });
      root.addHook('onRequest', refuseNonPreflightOptions);
      root.addHook('onRequest', refuseWhileDraining);
      root.addHook('onRequest', refuseMissingHost);
      root.addHook('onRequest', refuseMalformedQuery);
      if (refuseOtherOrigins !== null) root.addHook('onRequest', refuseOtherOrigins);
      done();
    }),
  );
  // A kept-alive connection would hold close() open until its idle timeout: answers sent
  // while draining (requests that were in flight) close theirs.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preSerialization', segmentErrorShape);
  // After the body is read, before any handler acts on it (pipelined requests only wait).
  app.addHook('preHandler', waitForAnswerTurn());
  app.addHook(
    'onRequest',
    countAbortedRequests(metrics, o.logRequests, () => draining),
  );
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: reply.statusCode });
    const format = req.routeOptions.config.ingestFormat;
    if (format !== undefined) metrics.ingestDuration.observe({ format }, reply.elapsedTime / 1000);
    done();
  });
  // Every request the store failed, whichever step it failed in (the key lookup and its keys
  // version check as well as the write) and whichever route's error handler answers it: counted
  // only at the insert, a full outage (every key lookup failing) showed no failures at all.
  app.addHook('onError', (_req, _reply, err, done) => {
    const kind = storeOutageKind(err);
    if (kind !== null) metrics.storeFailures.inc({ kind });
    done();
  });
  app.setErrorHandler(handleError(o.retryAfterSeconds));
  const notFound = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    // Logged as every request is, by its one line (route `unmatched`, 404): see requestLog.ts.
    markAdmin(req, reply);
    // Not the path: on the admin API it carries distinct ids.
    return reply
      .code(404)
      .send({ error: 'not-found', message: `no route answers ${req.method} at this path` });
  };
  // Before the body is read: the 404 handler's scope would parse it as JSON, and an SDK's gzip
  // body posted to a wrong path (a host given with /ingest) got 400 "not valid JSON", which
  // says the events are bad, instead of 404, which says the URL is.
  app.addHook('preParsing', async (req, reply, payload) => (req.is404 ? notFound(req, reply) : payload));
  app.setNotFoundHandler((req, reply) => {
    void notFound(req, reply);
  });

  const deps = {
    store: o.store,
    keys: new WriteKeys(o.store, { ttlMs: o.keyCacheTtlMs, size: o.keyCacheSize }),
    buckets: bucketsFor(o),
    metrics,
    limits: { maxEventBytes: o.maxEventBytes, maxPropertiesDepth: o.maxPropertiesDepth },
    maxBatchEvents: o.maxBatchEvents,
    retentionMs: o.retentionDays * 86_400_000,
  };
  void app.register(healthRoutes, {
    store: o.store,
    readyTimeoutMs: o.readyTimeoutMs,
    isDraining: () => draining,
  });
  void app.register(metricsRoutes, { metrics });
  const body = {
    maxBytes: o.maxBodyBytes,
    maxDepth: maxBodyDepth(o.maxPropertiesDepth),
    // One source may hold an eighth of it, and always one body of the largest size.
    budget: new BodyBytesBudget(
      o.maxBodyBytesInFlight,
      Math.max(o.maxBodyBytes, Math.floor(o.maxBodyBytesInFlight / 8)),
    ),
    retryAfterSeconds: o.retryAfterSeconds,
  };
  void app.register(nativeRoutes, { deps, body });
  void app.register(posthogRoutes, { deps, body });
  void app.register(segmentRoutes, { deps, body });
  // The admin API (admin key, checked by each plugin): person access/export/erasure, queries.
  const admin = { store: o.store, retryAfterSeconds: o.retryAfterSeconds };
  void app.register(personsRoutes, admin);
  void app.register(queryRoutes, admin);
  return app;
}

/**
 * A plugin whose hooks join the context it is registered in instead of one of its own, as
 * fastify-plugin marks them: hooks run in the order their plugins load.
 */
function atRoot(plugin: FastifyPluginCallback): FastifyPluginCallback {
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

function bucketsFor(o: ResolvedServerOptions): TokenBuckets | null {
  return o.rateLimit === false
    ? null
    : new TokenBuckets({ ratePerSecond: o.rateLimit.eventsPerSecond, burst: o.rateLimit.burst });
}

function loggerOption(
  logger: ResolvedServerOptions['logger'],
): { loggerInstance: FastifyBaseLogger } | { logger: boolean | object } {
  if (
    logger !== null &&
    typeof logger === 'object' &&
    typeof (logger as FastifyBaseLogger).child === 'function'
  ) {
    return { loggerInstance: logger as FastifyBaseLogger };
  }
  return { logger: (logger ?? false) as boolean | object };
}
