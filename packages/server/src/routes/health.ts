import type { FastifyPluginAsync } from 'fastify';
import { logThrottle } from '../logThrottle.js';
import type { Store } from '../store/store.js';

export interface HealthRouteOptions {
  store: Store;
  readyTimeoutMs: number;
  /** True once the server is shutting down: /readyz then answers 503 so balancers move away. */
  isDraining: () => boolean;
}

/** How often one reason for not being ready is logged with its cause, ms (a balancer polls often). */
export const NOT_READY_LOG_INTERVAL_MS = 10_000;

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (and so does its storage). A 503 names
 * its reason; the cause (the store's message: which table is locked, why the database takes no
 * writes) goes to the log, at most once per reason per NOT_READY_LOG_INTERVAL_MS.
 */
export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, o) => {
  const throttle = logThrottle(NOT_READY_LOG_INTERVAL_MS);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    if (o.isDraining()) return reply.code(503).send({ status: 'shutting-down' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Error('timeout');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut), o.readyTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([o.store.ping(), timeout]);
      return { status: 'ready' };
    } catch (err) {
      // A store may name its reason more precisely than its error kind (SQLite's
      // `expansion-stalled`: ingest held by an expander that cannot make progress).
      const { kind, reason: named } = err as { kind?: unknown; reason?: unknown };
      const reason =
        typeof named === 'string'
          ? named
          : typeof kind === 'string'
            ? kind
            : err === timedOut
              ? 'timeout'
              : 'storage';
      const skipped = throttle(reason);
      if (skipped !== null) {
        const cause =
          err === timedOut
            ? `the store did not answer within readyTimeoutMs (${o.readyTimeoutMs} ms)`
            : err instanceof Error
              ? err.message
              : String(err);
        req.log.warn({ reason, cause, ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}) }, 'not ready');
      }
      return reply.code(503).send({ status: 'unavailable', reason });
    } finally {
      clearTimeout(timer);
    }
  });
};
