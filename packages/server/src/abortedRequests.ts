import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { logThrottle } from './logThrottle.js';
import type { ServerMetrics } from './metrics/serverMetrics.js';
import { logThrottled, REFUSED_REQUEST_LOG_INTERVAL_MS, requestForLog } from './requestLog.js';
import { refusedByNode } from './routes/clientError.js';

/** The status label of a request whose client closed the connection before its answer (nginx's). */
export const CLIENT_CLOSED_STATUS = 499;

/** Requests counted (and logged) here as 499. */
const counted = new WeakSet<FastifyRequest>();

/**
 * Whether this request was counted as 499, its `request aborted` line written (or throttled):
 * the error handler, which runs after for a body cut short, writes no second line for it.
 */
export function countedAsAborted(req: FastifyRequest): boolean {
  return counted.has(req);
}

/**
 * An onRequest hook counting the requests whose client went away before any of the answer was
 * sent (a client timing out while the store is slow): Fastify runs no onResponse hook and writes
 * no line for them, so an incident where clients give up showed nothing in the request counter,
 * the latency histogram or the log, while its events (committed all the same) were counted.
 * Counted as status 499 with the time until the client left, and logged (`request aborted`,
 * with `bodyReceived`: false when the client left mid-upload) at most once per route every
 * REFUSED_REQUEST_LOG_INTERVAL_MS at info, the others at debug.
 */
export function countAbortedRequests(
  metrics: ServerMetrics,
  logRequests: boolean,
  isDraining: () => boolean,
): onRequestHookHandler {
  const throttle = logThrottle(REFUSED_REQUEST_LOG_INTERVAL_MS);
  return (req, reply, done) => {
    reply.raw.once('close', () => {
      // Headers sent: the answer began, and Fastify's own hooks account for it.
      if (reply.raw.writableFinished || reply.raw.headersSent) return;
      // Ended by the server, not the client: a body Node refused (it answers 408 or 400 on the
      // socket, counted as client-error), or connections cut at the end of shutdown. A body cut
      // short by the client (a reset, a page unloading mid-upload) is the client's leaving.
      if (refusedByNode(req.raw.socket) || isDraining()) return;
      const { method, route } = requestForLog(req);
      counted.add(req);
      metrics.requests.inc({ route, method, status: CLIENT_CLOSED_STATUS });
      const format = req.routeOptions.config.ingestFormat;
      if (format !== undefined) metrics.ingestDuration.observe({ format }, reply.elapsedTime / 1000);
      if (!logRequests) return;
      // `req` goes through the request logger's serializer (requestForLog): method and route only.
      const line = { req, responseTime: reply.elapsedTime, bodyReceived: req.raw.complete };
      logThrottled(
        req.log,
        throttle(`${method} ${route}`),
        line,
        'request aborted: the client closed the connection',
      );
    });
    done();
  };
}
