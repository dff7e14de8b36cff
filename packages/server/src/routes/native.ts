import type { FastifyPluginAsync } from 'fastify';
import { type IngestBodyLimits, useIngestBodyParser } from '../ingest/contentParser.js';
import { IngestError } from '../ingest/errors.js';
import { clockSkewMs } from '../ingest/eventTime.js';
import { ingestBatch, type IngestDeps } from '../ingest/ingestBatch.js';
import { clientGone } from '../ingest/clientGone.js';
import { normaliseNative, sendTimeMs } from '../ingest/normaliseNative.js';
import { agreedKey, bearerKey, stringField } from '../ingest/requestKeys.js';

export interface IngestRouteOptions {
  deps: IngestDeps;
  body: IngestBodyLimits;
}

/**
 * `POST /ingest`, Homing's own format (design 001): a JSON array of events or
 * `{ batch, sent_at?, api_key? }`; the write key as `Authorization: Bearer` or `api_key` (both:
 * the same key, else 400).
 * Answers 202 `{ accepted, duplicates, erased, rejected: [{ index, error }] }` once the store
 * committed; `erased` counts events of an erased person from before the erasure, not stored.
 */
export const nativeRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, { deps, body }) => {
  useIngestBodyParser(app, body, { keys: deps.keys, of: bearerKey });
  app.post('/ingest', { config: { ingestFormat: 'native', corsCredentials: true } }, async (req, reply) => {
    const body = req.body;
    let items: unknown;
    let sentAt: unknown;
    if (Array.isArray(body)) {
      items = body;
    } else if (body !== null && typeof body === 'object') {
      items = (body as Record<string, unknown>).batch;
      sentAt = (body as Record<string, unknown>).sent_at ?? (body as Record<string, unknown>).sentAt;
    }
    if (!Array.isArray(items)) {
      throw new IngestError('malformed', 'expected a JSON array of events or { "batch": [...] }');
    }
    const receivedSkew = clockSkewMs(sentAt, Date.now());
    const sentMs = sendTimeMs(sentAt);
    const answer = await ingestBatch(deps, {
      format: 'native',
      signal: clientGone(reply),
      key: () =>
        agreedKey([
          ['Authorization', bearerKey(req)],
          ["the body's api_key", stringField(body, 'api_key')],
        ]),
      items,
      normalise: (raw, ctx) => normaliseNative(raw, receivedSkew, ctx, sentMs),
    });
    return reply.code(202).send(answer);
  });
};
