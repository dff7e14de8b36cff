import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/store.js';

export interface HealthRouteOptions {
  store: Store;
  readyTimeoutMs: number;
  /** True once the server is shutting down: /readyz then answers 503 so balancers move away. */
  isDraining: () => boolean;
}

/** `GET /healthz` (the process answers) and `GET /readyz` (and so does its storage). */
export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, o) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (o.isDraining()) return reply.code(503).send({ status: 'shutting-down' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), o.readyTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([o.store.ping(), timeout]);
      return { status: 'ready' };
    } catch (err) {
      // A store may name its reason more precisely than its error kind (SQLite's
      // `expansion-stalled`: ingest held by an expander that cannot make progress).
      const { kind, reason } = err as { kind?: unknown; reason?: unknown };
      return reply.code(503).send({
        status: 'unavailable',
        reason:
          typeof reason === 'string'
            ? reason
            : typeof kind === 'string'
              ? kind
              : 'storage did not answer in time',
      });
    } finally {
      clearTimeout(timer);
    }
  });
};
