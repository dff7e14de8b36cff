import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { loggableError } from './loggableError.js';
import { logThrottle } from './logThrottle.js';
import type { ServerMetrics } from './metrics/serverMetrics.js';
import { logThrottled, REFUSED_REQUEST_LOG_INTERVAL_MS } from './requestLog.js';
import { CORS_PREFLIGHT } from './routes/cors.js';

/** Characters of a path parameter (a URL-encoded distinct_id): 1000 characters of any script. */
export const MAX_PARAM_LENGTH = 9000;

/** Admin API paths answer with no-store, refusals included: the URL names a person. */
export function markAdmin(req: FastifyRequest, reply: FastifyReply): void {
  if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
}

export interface FrameworkErrorDeps {
  corsOrigins: '*' | readonly string[];
  metrics: ServerMetrics;
  logRequests: boolean;
}

/**
 * Fastify's `frameworkErrors`: the answer to a request the router refused before any route or
 * hook ran (a path that is not valid percent-encoding, a path parameter over MAX_PARAM_LENGTH).
 * No hook runs for it, so what the hooks do for every other request is done here: the allowed
 * origin's CORS headers (a page got an opaque CORS failure instead of the 400 saying what is
 * wrong), a preflight answered as any other (a browser sends its admin request, which carries a
 * key header, only after a 2xx preflight), the request counted in /metrics and its one log line.
 */
export function frameworkErrorAnswer(
  deps: FrameworkErrorDeps,
): (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  const throttle = logThrottle(REFUSED_REQUEST_LOG_INTERVAL_MS);
  return (err, req, reply) => {
    const allowed = allowedOrigin(deps.corsOrigins, req.headers.origin);
    if (allowed !== null) {
      reply.header('access-control-allow-origin', allowed);
      if (allowed !== '*') reply.header('vary', 'Origin');
    }
    markAdmin(req, reply);
    if (allowed !== null && req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      void reply
        .code(204)
        .header('access-control-allow-methods', CORS_PREFLIGHT.methods.join(', '))
        .header('access-control-allow-headers', CORS_PREFLIGHT.allowedHeaders.join(', '))
        .header('access-control-max-age', String(CORS_PREFLIGHT.maxAge))
        .send();
    } else {
      answerFrameworkError(err, req, reply);
    }
    deps.metrics.requests.inc({ route: 'unmatched', method: req.method, status: reply.statusCode });
    if (!deps.logRequests) return;
    const line = {
      req,
      res: reply,
      kind: typeof err.code === 'string' ? err.code : 'router',
    };
    logThrottled(
      req.log,
      throttle(`${req.method} ${reply.statusCode} ${line.kind}`),
      line,
      'request completed',
    );
  };
}

function allowedOrigin(corsOrigins: '*' | readonly string[], origin: string | undefined): string | null {
  if (corsOrigins === '*') return '*';
  return typeof origin === 'string' && corsOrigins.includes(origin) ? origin : null;
}

function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_BAD_URL') {
    void reply.code(400).send({
      error: 'invalid-request',
      message: 'the path is not valid percent-encoding (each % needs two hex digits, and the bytes UTF-8)',
    });
    return;
  }
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(400).send({
      error: 'invalid-request',
      message: `a path segment is longer than this server accepts (${MAX_PARAM_LENGTH} characters URL-encoded)`,
    });
    return;
  }
  req.log.error({ error: loggableError(err) }, 'router failed');
  void reply.code(500).send({ error: 'internal', message: 'internal error' });
}
