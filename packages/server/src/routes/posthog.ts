import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, preSerializationHookHandler } from 'fastify';
import { useIngestBodyParser } from '../ingest/contentParser.js';
import { IngestError } from '../ingest/errors.js';
import { clockSkewMs } from '../ingest/eventTime.js';
import { ingestBatch, oversizedOnlyEvent } from '../ingest/ingestBatch.js';
import { clientGone } from '../ingest/clientGone.js';
import { normaliseNative, sendTimeMs } from '../ingest/normaliseNative.js';
import { posthogKey } from '../ingest/posthogKey.js';
import { bearerKey, stringField } from '../ingest/requestKeys.js';
import type { IngestRouteOptions } from './native.js';

/** PostHog's capture paths (Fastify's ignoreTrailingSlash takes `/batch` and `/batch/` alike). */
export const POSTHOG_PATHS = ['/batch/', '/capture/', '/e/', '/i/v0/e/', '/track/'] as const;

/** PostHog's feature flag paths: posthog-js and posthog-node ask them before a flag is read. */
export const POSTHOG_FLAG_PATHS = ['/decide/', '/flags/'] as const;

/**
 * Whether a request URL is at one of PostHog's paths (capture, flags, remote config), whose
 * errors are in PostHog's shape: for answers given before any of their routes was found.
 */
export function isPostHogPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const slashed = path.endsWith('/') ? path : `${path}/`;
  return (
    (POSTHOG_PATHS as readonly string[]).includes(slashed) ||
    (POSTHOG_FLAG_PATHS as readonly string[]).includes(slashed) ||
    /^\/array\/[^/]+\/config(\.js)?\/$/.test(slashed)
  );
}

/** Longest `distinct_id` a flags request may carry (the store's limit on ids). */
const MAX_DISTINCT_ID_CHARS = 1000;

/**
 * What PostHog answers for a project without feature flags. `/flags` from `v=2` on, and
 * `/decide` from `v=4` on, carry flags as `flags: { key: detail }`; earlier versions as
 * `featureFlags` and `featureFlagPayloads` maps. Homing has no flags, so every map is empty.
 */
export function noFlagsAnswer(path: (typeof POSTHOG_FLAG_PATHS)[number], version: number): object {
  const detailed = path === '/flags/' ? version >= 2 : version >= 4;
  const flags = detailed ? { flags: {} } : { featureFlags: {}, featureFlagPayloads: {} };
  return { ...flags, errorsWhileComputingFlags: false, requestId: randomUUID() };
}

/**
 * PostHog's remote config, which posthog-js loads once on init: the script (`config.js`) when it
 * may load external scripts, else the JSON. Answered 404, posthog-js logged a failed request on
 * every page load and sent uncompressed for the rest of the page.
 */
export const POSTHOG_REMOTE_CONFIG_PATHS = ['/array/:token/config', '/array/:token/config.js'] as const;

/**
 * What PostHog's `/array/<token>/config` answers for a project with every optional feature off
 * (its RemoteConfig.build_config): no flags (posthog-js skips its first `/flags`), no session
 * recording, heatmaps, performance, dead click or exception capture, no site apps.
 * `supportedCompression` keeps posthog-js sending gzip, and `analytics.endpoint` names the
 * capture path PostHog gives its projects, which Homing takes like `/e/`.
 *
 * `surveys` is left out, where PostHog says `false`: posthog-js loads its survey code from
 * `<api_host>/static/` once the config says anything of surveys, `false` included (it builds an
 * empty survey manager), and Homing serves no posthog-js files, so every page logged two 404s
 * unless the app set `disable_surveys`. With no word on surveys it loads nothing for them, as
 * with `disable_surveys`; older posthog-js read an absent `surveys` as off too.
 */
export function remoteConfigAnswer(token: string): Record<string, unknown> {
  return {
    token,
    supportedCompression: ['gzip', 'gzip-js'],
    hasFeatureFlags: false,
    captureDeadClicks: false,
    capturePerformance: false,
    autocapture_opt_out: false,
    autocaptureExceptions: false,
    analytics: { endpoint: '/i/v0/e/' },
    elementsChainAsString: true,
    errorTracking: { autocaptureExceptions: false, suppressionRules: [] },
    sessionRecording: false,
    heatmaps: false,
    defaultIdentifiedOnly: true,
    siteApps: [],
  };
}

/**
 * The same config as PostHog's `config.js` script sets it, where posthog-js looks for it
 * (`window._POSTHOG_REMOTE_CONFIG[token]`); the script form has its site apps beside the config.
 */
export function remoteConfigScript(token: string): string {
  const { siteApps: _siteApps, ...config } = remoteConfigAnswer(token);
  const key = JSON.stringify(token);
  return (
    '(function() {\n' +
    '  window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n' +
    `  window._POSTHOG_REMOTE_CONFIG[${key}] = { config: ${JSON.stringify(config)}, siteApps: [] };\n` +
    '})();\n'
  );
}

/** PostHog's error body (its `generate_exception_response`, and DRF's through exceptions-hog). */
export interface PostHogError {
  type: string;
  code: string;
  detail: string;
  attr: null;
}

const SERVER_ERROR = { type: 'server_error', code: 'server_error' };
const INVALID_PAYLOAD = { type: 'validation_error', code: 'invalid_payload' };
const INVALID_API_KEY = { type: 'authentication_error', code: 'invalid_api_key' };

/**
 * Homing's error kinds as PostHog names them. PostHog's capture answers missing_api_key,
 * invalid_api_key, invalid_payload and server_error; 403, 415 and the rate limit take the codes
 * of PostHog's DRF error handler (exceptions-hog: permission_denied, unsupported_media_type,
 * throttled). PostHog's capture has no 413 in this shape; payload_too_large is Homing's choice.
 */
const POSTHOG_ERRORS: Record<string, { type: string; code: string }> = {
  malformed: INVALID_PAYLOAD,
  'invalid-input': INVALID_PAYLOAD,
  'missing-key': { type: 'authentication_error', code: 'missing_api_key' },
  'unknown-key': INVALID_API_KEY,
  'unknown-project': INVALID_API_KEY,
  'wrong-key-role': { type: 'authentication_error', code: 'permission_denied' },
  'origin-not-allowed': { type: 'authentication_error', code: 'permission_denied' },
  'too-large': { type: 'invalid_request', code: 'payload_too_large' },
  'unsupported-encoding': { type: 'invalid_request', code: 'unsupported_media_type' },
  'rate-limited': { type: 'throttled_error', code: 'throttled' },
  'storage-unavailable': SERVER_ERROR,
  'shutting-down': SERVER_ERROR,
  busy: SERVER_ERROR,
  internal: SERVER_ERROR,
};

/**
 * Homing's `{ error, message }` as PostHog's `{ type, code, detail, attr }`; other bodies as
 * they are; Homing's message becomes `detail`, so the reason stays readable.
 */
export function asPostHogError(statusCode: number, body: unknown): unknown {
  if (body === null || typeof body !== 'object') return body;
  const { error, message } = body as Record<string, unknown>;
  if (typeof error !== 'string' || typeof message !== 'string') return body;
  const named = POSTHOG_ERRORS[error] ?? (statusCode >= 500 ? SERVER_ERROR : INVALID_PAYLOAD);
  const answer: PostHogError = { ...named, detail: message, attr: null };
  return answer;
}

/**
 * Whether `body` is Homing's answer to a project over its rate limit. PostHog answers 429 for a
 * project over its billing quota, whose events it has dropped, and posthog-js resends nothing
 * answered 4xx (only 5xx and network failures, after their Retry-After): every event it sent past
 * Homing's 429 was lost. Homing's limit asks the sender to come back, so on PostHog's routes it
 * is answered 503 with the same Retry-After and `throttled` body, which posthog-js, posthog-node
 * and PostHog's other SDKs all send again.
 */
function isRateLimited(body: unknown): boolean {
  return body !== null && typeof body === 'object' && (body as { error?: unknown }).error === 'rate-limited';
}

/**
 * Every error of a capture route leaves in PostHog's shape, whoever answered it: the error
 * handler (401, 413, 415, the rate limit, storage's 503) and the shutdown hook's 503 alike, so no
 * route file but this one knows PostHog's body. Headers (Retry-After) are left as they are, and
 * the status too but for the rate limit's (`isRateLimited`).
 */
const inPostHogShape: preSerializationHookHandler<unknown> = (_req, reply, payload, done) => {
  if (reply.statusCode === 429 && isRateLimited(payload)) reply.code(503);
  done(null, reply.statusCode >= 400 ? asPostHogError(reply.statusCode, payload) : payload);
};

/**
 * posthog-js sends no `sent_at` in its body: its send time is the `_` query parameter, epoch
 * ms (`?_=1733382000000&ver=…`), which PostHog's capture reads as `sent_at`.
 */
function sentAtFromQuery(query: unknown): number | undefined {
  const v = (query as Record<string, unknown> | undefined)?._;
  return typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : undefined;
}

function versionOf(query: unknown): number {
  const v = (query as Record<string, unknown> | undefined)?.v;
  const n = typeof v === 'string' ? Number.parseInt(v, 10) : NaN;
  // PostHog reads an absent or unreadable v as the oldest format.
  return Number.isFinite(n) ? n : 1;
}

/**
 * PostHog compatible capture, so posthog-node and posthog-js send here with only `host`
 * changed. Bodies: `{ api_key, batch, sent_at }` (posthog-node), a JSON array of events
 * (posthog-js), or one event; the key from `api_key`, `token`, `$token`, an event's
 * `properties.token`, or a Bearer header, and two different keys anywhere in one request are
 * refused (`posthogKey`). Answers PostHog's `{ "status": 1 }` once committed.
 * Like PostHog, a batch keeps its valid events and drops the invalid ones; a request whose
 * every event is invalid is answered 400 with the first reason, a one-event body whose event is
 * over `maxEventBytes` 413. Errors, flag routes' included, are in PostHog's shape (`asPostHogError`).
 * `/decide` and `/flags` answer that the project has no feature flags, and the remote config
 * (`GET /array/<write key>/config`, `config.js`) that it has no optional feature on.
 */
export const posthogRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, { deps, body }) => {
  useIngestBodyParser(app, body, { keys: deps.keys, of: bearerKey });
  for (const path of POSTHOG_FLAG_PATHS) {
    // Same body decoding and write key as capture (posthog-js sends `token`, gzip or base64),
    // so an SDK pointed here gets "no flags" instead of an error; nothing is stored. Its errors
    // are in PostHog's shape too, so one PostHog route never answers in Homing's.
    app.post(path, { config: { corsCredentials: true }, preSerialization: inPostHogShape }, async (req) => {
      const body = req.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new IngestError('malformed', 'expected a JSON object { "token": ..., "distinct_id": ... }');
      }
      // The body's key fields and a Bearer header, as on capture (a flags body holds no events).
      await deps.keys.resolve(posthogKey(bearerKey(req), body, []));
      const distinctId = (body as Record<string, unknown>).distinct_id;
      const validId =
        (typeof distinctId === 'string' && distinctId !== '' && distinctId.length <= MAX_DISTINCT_ID_CHARS) ||
        (typeof distinctId === 'number' && Number.isFinite(distinctId));
      if (!validId) {
        throw new IngestError(
          'malformed',
          `distinct_id must be a number or a non-empty string of at most ${MAX_DISTINCT_ID_CHARS} characters`,
        );
      }
      return noFlagsAnswer(path, versionOf(req.query));
    });
  }
  for (const path of POSTHOG_REMOTE_CONFIG_PATHS) {
    // The token in the path is the write key: an unknown one is refused (401) as on capture,
    // where PostHog answers 404; either way posthog-js goes on without a config. Plain CORS:
    // posthog-js fetches it without credentials, and loads the script with crossorigin=anonymous.
    app.get<{ Params: { token: string } }>(path, { preSerialization: inPostHogShape }, async (req, reply) => {
      const { token } = req.params;
      await deps.keys.resolve(token, 'the write key is the path segment after /array/');
      if (path.endsWith('.js')) {
        return reply.type('application/javascript; charset=utf-8').send(remoteConfigScript(token));
      }
      return remoteConfigAnswer(token);
    });
  }
  for (const path of POSTHOG_PATHS) {
    app.post(
      path,
      { config: { ingestFormat: 'posthog', corsCredentials: true }, preSerialization: inPostHogShape },
      async (req, reply) => {
        const body = req.body;
        let items: unknown[];
        let envelope: unknown = body;
        if (Array.isArray(body)) {
          items = body;
          envelope = undefined;
        } else if (body !== null && typeof body === 'object') {
          const b = body as Record<string, unknown>;
          if (b.batch !== undefined) {
            if (!Array.isArray(b.batch))
              throw new IngestError('malformed', 'batch must be an array of events');
            items = b.batch;
          } else {
            items = [body];
          }
        } else {
          throw new IngestError(
            'malformed',
            'expected an event, a JSON array of events or { "batch": [...] }',
          );
        }
        const sentAt = stringField(envelope, 'sent_at', 'sentAt') ?? sentAtFromQuery(req.query);
        const skewMs = clockSkewMs(sentAt, Date.now());
        // Dates an event sent with `offset` on the client's clock, for its derived uuid.
        const sentMs = sendTimeMs(sentAt);
        const answer = await ingestBatch(deps, {
          format: 'posthog',
          signal: clientGone(reply),
          key: () => posthogKey(bearerKey(req), envelope, items),
          items,
          normalise: (raw, ctx) => normaliseNative(raw, skewMs, ctx, sentMs),
          // posthog-node's `historicalMigration` option: a batch of past events, dated as sent.
          timestampsAsserted:
            (envelope as Record<string, unknown> | undefined)?.historical_migration === true,
        });
        const oversized = oversizedOnlyEvent(items.length, answer, deps.limits);
        if (oversized !== null) {
          return reply.code(413).send({ error: 'too-large', message: oversized });
        }
        if (items.length > 0 && answer.rejected.length === items.length) {
          const first = answer.rejected[0]!;
          const body: PostHogError = {
            ...INVALID_PAYLOAD,
            detail: `event ${first.index}: ${first.error}`,
            attr: null,
          };
          return reply.code(400).send(body);
        }
        return reply.code(200).send({ status: 1 });
      },
    );
  }
};
