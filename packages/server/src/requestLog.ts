import { LogController, type FastifyRequest, type FastifyServerOptions } from 'fastify';

/**
 * A request as log lines show it: its method and route pattern (`/api/persons/:distinct_id`),
 * never its URL, whose path and query carry distinct ids and filter values (nor the client's
 * address).
 */
export function requestForLog(req: FastifyRequest): { method: string; route: string } {
  return { method: req.method, route: req.routeOptions?.url ?? 'unmatched' };
}

/**
 * Fastify's childLoggerFactory: every request's logger describes a request (`{ req }`) by
 * requestForLog, whatever logger the server was given (options or a pino instance of its own,
 * whose serializers Fastify would otherwise keep).
 */
export const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  opts,
) => logger.child(bindings, { ...opts, serializers: { ...opts.serializers, req: requestForLog } });

/** Fastify's log lines, with an unknown route named without its URL ("Route GET:/… not found"). */
export class RequestLogController extends LogController {
  override routeNotFound(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.info({ req: request }, 'route not found');
  }
}
