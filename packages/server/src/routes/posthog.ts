import type { FastifyPluginAsync } from 'fastify';
import { useIngestBodyParser } from '../ingest/contentParser.js';
import { IngestError } from '../ingest/errors.js';
import { clockSkewMs } from '../ingest/eventTime.js';
import { ingestBatch } from '../ingest/ingestBatch.js';
import { normaliseNative } from '../ingest/normaliseNative.js';
import { bearerKey, stringField } from '../ingest/requestKeys.js';
import type { IngestRouteOptions } from './native.js';

/** PostHog's capture paths (Fastify's ignoreTrailingSlash takes `/batch` and `/batch/` alike). */
export const POSTHOG_PATHS = ['/batch/', '/capture/', '/e/', '/i/v0/e/', '/track/'] as const;

/**
 * PostHog compatible capture, so posthog-node and posthog-js send here with only `host`
 * changed. Bodies: `{ api_key, batch, sent_at }` (posthog-node), a JSON array of events
 * (posthog-js), or one event; the key from `api_key`, `token`, `$token`, an event's
 * `properties.token`, or a Bearer header. Answers PostHog's `{ "status": 1 }` once committed.
 * Like PostHog, a batch keeps its valid events and drops the invalid ones; a request whose
 * every event is invalid is answered 400 with the first reason.
 */
export const posthogRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, { deps, maxBodyBytes }) => {
  useIngestBodyParser(app, maxBodyBytes);
  for (const path of POSTHOG_PATHS) {
    app.post(path, { config: { ingestFormat: 'posthog' } }, async (req, reply) => {
      const body = req.body;
      let items: unknown[];
      let envelope: unknown = body;
      if (Array.isArray(body)) {
        items = body;
        envelope = undefined;
      } else if (body !== null && typeof body === 'object') {
        const b = body as Record<string, unknown>;
        if (b.batch !== undefined) {
          if (!Array.isArray(b.batch)) throw new IngestError('malformed', 'batch must be an array of events');
          items = b.batch;
        } else {
          items = [body];
        }
      } else {
        throw new IngestError('malformed', 'expected an event, a JSON array of events or { "batch": [...] }');
      }
      const first = items[0];
      const firstProps =
        first !== null && typeof first === 'object'
          ? (first as Record<string, unknown>).properties
          : undefined;
      const key =
        stringField(envelope, 'api_key', 'token', '$token') ??
        stringField(first, 'api_key', 'token', '$token') ??
        stringField(firstProps, 'token', '$token') ??
        bearerKey(req);
      const skewMs = clockSkewMs(stringField(envelope, 'sent_at', 'sentAt'), Date.now());
      const answer = await ingestBatch(deps, {
        format: 'posthog',
        key,
        items,
        normalise: (raw, ctx) => normaliseNative(raw, skewMs, ctx),
      });
      if (items.length > 0 && answer.rejected.length === items.length) {
        return reply.code(400).send({
          type: 'validation_error',
          code: 'invalid_payload',
          detail: `event ${answer.rejected[0]!.index}: ${answer.rejected[0]!.error}`,
        });
      }
      return reply.code(200).send({ status: 1 });
    });
  }
};
