import {
  LogController,
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { loggableError } from './loggableError.js';
import { logThrottle } from './logThrottle.js';

/**
 * Refused requests (4xx, and 5xx: a store that fails, a server shutting down) of one method,
 * route, status and kind are logged at info at most this often, ms, with how many were left out
 * (each one at debug): a client looping on a wrong key, or a store outage answering every request
 * 503, would otherwise write a line per request, onto what may be the disk that is full.
 */
export const REFUSED_REQUEST_LOG_INTERVAL_MS = 10_000;

/**
 * A request as log lines show it: its method and route pattern (`/api/persons/:distinct_id`),
 * never its URL, whose path and query carry distinct ids and filter values (nor the client's
 * address).
 */
export function requestForLog(req: FastifyRequest): { method: string; route: string } {
  return { method: req.method, route: req.routeOptions?.url ?? 'unmatched' };
}

/** An answer as log lines show it: its status, never its headers. */
function replyForLog(reply: FastifyReply): { statusCode: number } {
  return { statusCode: reply.statusCode };
}

/**
 * Fastify's childLoggerFactory: every request's logger describes a request (`{ req }`) by
 * requestForLog and an answer (`{ res }`) by its status, whatever logger the server was given
 * (options or a pino instance of its own, whose serializers Fastify would otherwise keep).
 */
export const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  opts,
) =>
  logger.child(bindings, {
    ...opts,
    serializers: { ...opts.serializers, req: requestForLog, res: replyForLog },
  });

/** Why a request was refused, as the error handler named it: its one log line carries it. */
const refusalKinds = new WeakMap<FastifyRequest, string>();

/** Names the kind of refusal (`unknown-key`, `rate-limited`, `disk-full`) in the request's line. */
export function noteRefusal(req: FastifyRequest, kind: string): void {
  refusalKinds.set(req, kind);
}

/**
 * A refused (or aborted) request's line, as `logThrottle` decided: at debug when its key was
 * logged within the interval (`skipped` null), else at info with how many were left out since.
 */
export function logThrottled(
  log: FastifyBaseLogger,
  skipped: number | null,
  line: Record<string, unknown>,
  message: string,
): void {
  if (skipped === null) log.debug(line, message);
  else log.info(skipped > 0 ? { ...line, alsoSinceLastLine: skipped } : line, message);
}

/**
 * One line per request, once answered: `request completed` with method, route pattern, status,
 * duration (ms) and, for a refusal, its kind. Fastify's own two (incoming, completed) and its
 * "Route GET:/… not found" (which names the URL) are not written. A refused request's line is
 * at debug, and at info once per REFUSED_REQUEST_LOG_INTERVAL_MS per method, route, status and
 * kind, with `alsoSinceLastLine` counting the ones left out since.
 */
export class RequestLogController extends LogController {
  private readonly refusedThrottle = logThrottle(REFUSED_REQUEST_LOG_INTERVAL_MS);

  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const kind = refusalKinds.get(request);
    const line = {
      req: request,
      res: reply,
      responseTime: reply.elapsedTime,
      ...(kind === undefined ? {} : { kind }),
    };
    if (error) {
      // The answer failed after its headers went out (a stream that broke): rare, and an error.
      reply.log.error({ ...line, error: loggableError(error) }, 'request errored');
      return;
    }
    if (reply.statusCode < 400) {
      reply.log.info(line, 'request completed');
      return;
    }
    const { method, route } = requestForLog(request);
    const skipped = this.refusedThrottle(`${method} ${route} ${reply.statusCode} ${kind ?? ''}`);
    logThrottled(reply.log, skipped, line, 'request completed');
  }
}
