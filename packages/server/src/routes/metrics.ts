import type { FastifyPluginAsync } from 'fastify';
import type { ServerMetrics } from '../metrics/serverMetrics.js';

/** `GET /metrics`: Prometheus text of this server's registry. */
export const metricsRoutes: FastifyPluginAsync<{ metrics: ServerMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
};
