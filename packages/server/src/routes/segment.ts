import type { FastifyPluginAsync, preSerializationHookHandler } from 'fastify';
import { useIngestBodyParser } from '../ingest/contentParser.js';
import { IngestError } from '../ingest/errors.js';
import { clockSkewMs } from '../ingest/eventTime.js';
import { ingestBatch, oversizedOnlyEvent } from '../ingest/ingestBatch.js';
import { clientGone } from '../ingest/clientGone.js';
import { normaliseSegment, SEGMENT_TYPES, type SegmentType } from '../ingest/normaliseSegment.js';
import { agreedKey, basicKey, bearerKey, stringField } from '../ingest/requestKeys.js';
import type { IngestRouteOptions } from './native.js';

/** Segment's browser library posts to one-letter paths. */
const SHORT: Record<string, SegmentType> = {
  t: 'track',
  i: 'identify',
  p: 'page',
  s: 'screen',
  g: 'group',
  a: 'alias',
};

/** Whether `url` is under Segment's API root (`/v1`). */
function isSegmentPath(url: string): boolean {
  return url.startsWith('/v1') && (url.length === 3 || '/?#'.includes(url[3]!));
}

/**
 * Error answers under Segment's API root carry Segment's `success: false` beside Homing's
 * `{ error, message }`, whichever step refused the request (the body parser, the key, the rate
 * limit, the store, the handler, a path or method no route answers): a client reading `success`
 * learns the same from every error. A hook of the whole app, so the 404s are shaped too.
 */
export const segmentErrorShape: preSerializationHookHandler<unknown> = (req, reply, payload, done) => {
  if (
    reply.statusCode < 400 ||
    !isSegmentPath(req.url) ||
    payload === null ||
    typeof payload !== 'object' ||
    Array.isArray(payload)
  )
    return done(null, payload);
  done(null, { success: false, ...payload });
};

/**
 * Segment compatible tracking API, so @segment/analytics-node sends here with only `host`
 * changed: `POST /v1/batch` (also `/v1/b`, `/v1/import`) and one path per message type
 * (`/v1/track`, `/v1/t`, …). The write key by HTTP Basic auth (`<writeKey>:`) or `writeKey`
 * in the body (both: the same key, else 400). Answers Segment's `{ "success": true }` once
 * committed, and `success: false` in every error body (`segmentErrorShape`); invalid messages are
 * dropped from a batch, a request whose every message is invalid is answered 400, and a
 * one-message body whose message is over `maxEventBytes` 413.
 */
export const segmentRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, { deps, body }) => {
  // Basic only: a Bearer header beside writeKey is analytics-node's OAuth token, no write key.
  useIngestBodyParser(app, body, { keys: deps.keys, of: basicKey });
  const routes: [string, SegmentType | null][] = [
    ['/v1/batch', null],
    ['/v1/b', null],
    ['/v1/import', null],
    ...SEGMENT_TYPES.map((t): [string, SegmentType] => [`/v1/${t}`, t]),
    ...Object.entries(SHORT).map(([s, t]): [string, SegmentType] => [`/v1/${s}`, t]),
  ];
  for (const [path, type] of routes) {
    const config = { ingestFormat: 'segment', corsCredentials: true } as const;
    app.post(path, { config }, async (req, reply) => {
      const body = req.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new IngestError(
          'malformed',
          type === null ? 'expected { "batch": [...] }' : 'expected a message object',
        );
      }
      const b = body as Record<string, unknown>;
      let items: unknown[];
      if (type === null) {
        if (!Array.isArray(b.batch)) throw new IngestError('malformed', 'batch must be an array of messages');
        items = b.batch;
      } else {
        items = [body];
      }
      const batchSkew = type === null ? clockSkewMs(b.sentAt, Date.now()) : 0;
      const answer = await ingestBatch(deps, {
        format: 'segment',
        signal: clientGone(reply),
        // A Bearer header is read only without either: analytics-node sends one with writeKey in
        // the body when it uses OAuth, and then it holds an access token, not a write key.
        key: () =>
          agreedKey([
            ['Authorization (Basic)', basicKey(req)],
            ["the body's writeKey", stringField(body, 'writeKey')],
          ]) ?? bearerKey(req),
        howToSendKey:
          'send it by HTTP Basic auth (the write key as user name, no password) or as writeKey in the body',
        items,
        normalise: (raw, ctx) => normaliseSegment(raw, type, batchSkew, ctx),
        // Segment's route for historical data: its timestamps are the point of the request.
        timestampsAsserted: path === '/v1/import',
      });
      const oversized = oversizedOnlyEvent(items.length, answer, deps.limits);
      if (oversized !== null) {
        // The body of Segment's other 413 (a body over maxBodyBytes), from the error handler.
        return reply.code(413).send({ error: 'too-large', message: oversized });
      }
      if (items.length > 0 && answer.rejected.length === items.length) {
        const first = answer.rejected[0]!;
        return reply.code(400).send({
          error: 'invalid-request',
          message: `message ${first.index}: ${first.error}`,
        });
      }
      return reply.code(200).send({ success: true });
    });
  }
};
