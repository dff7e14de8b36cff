import { createHash } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loggableError } from '../loggableError.js';
import { logThrottle } from '../logThrottle.js';
import { repeatedHeader } from '../repeatedHeader.js';
import { StoreError } from '../store/errors.js';
import type { Project, Store } from '../store/store.js';

/**
 * The front door of the admin API (queries, person access, export, erasure): which project an
 * admin key opens, and what a refused request looks like. Every admin route plugin calls
 * `installAdminApi` once; it adds the key check and an error handler to that plugin's
 * (encapsulated) context, so refusals are always `{ error, message }` JSON.
 */

export type AdminApiErrorKind =
  /** No admin key in `Authorization: Bearer …` or `X-Homing-Admin-Key`. */
  | 'missing-key'
  /** The key belongs to no project. */
  | 'unknown-key'
  /** A project's write key on an admin route: it may only ingest. */
  | 'write-key'
  /** The request's parameters, query string or headers are malformed. */
  | 'invalid-request'
  /** A body of a Content-Type no admin route reads. */
  | 'unsupported-media-type'
  /** A body over the server's limit. */
  | 'too-large'
  /** The key's project disappeared between the key check and the call. */
  | 'unknown-project'
  /** No admin route at this path. */
  | 'not-found'
  /** Storage is closed, unreachable or failing; retry after `Retry-After` seconds. */
  | 'unavailable'
  /** A bug on the server's side; the log has the details. */
  | 'internal';

const STATUS: Record<AdminApiErrorKind, number> = {
  'missing-key': 401,
  'unknown-key': 401,
  'write-key': 403,
  'invalid-request': 400,
  'unsupported-media-type': 415,
  'too-large': 413,
  'unknown-project': 404,
  'not-found': 404,
  unavailable: 503,
  internal: 500,
};

/** Seconds a client should wait before retrying after a 503, when the server gives none. */
export const ADMIN_RETRY_AFTER_SECONDS = 5;

/** What an admin route plugin is registered with. */
export interface AdminRouteOptions {
  store: Store;
  /** Retry-After of a 503 (the server's retryAfterSeconds); ADMIN_RETRY_AFTER_SECONDS if absent. */
  retryAfterSeconds?: number;
}

export class AdminApiError extends Error {
  override readonly name = 'AdminApiError';
  readonly statusCode: number;
  constructor(
    readonly kind: AdminApiErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.statusCode = STATUS[kind];
  }
}

/** Who is calling: the project the admin key opens, and a name for the erasure log. */
export interface AdminContext {
  project: Project;
  /** First 12 hex digits of the key's SHA-256: names the key in logs without revealing it. */
  keyFingerprint: string;
  /** `X-Homing-Actor`, when the caller named themselves (an operator, a ticket id). */
  actor: string | null;
  /** What the erasure log records as "who": the actor (if any) and the key's fingerprint. */
  requestedBy: string;
}

export const ADMIN_KEY_HEADER = 'x-homing-admin-key';
export const ACTOR_HEADER = 'x-homing-actor';
const MAX_KEY_CHARS = 1000;
const MAX_ACTOR_CHARS = 200;

/** The admin key a request carries, or null; throws `invalid-request` for malformed headers. */
export function readAdminKey(headers: FastifyRequest['headers']): string | null {
  const fromBearer = bearerToken(headers.authorization);
  const fromHeader = single(headers[ADMIN_KEY_HEADER], ADMIN_KEY_HEADER)?.trim() || null;
  if (fromBearer !== null && fromHeader !== null && fromBearer !== fromHeader) {
    throw new AdminApiError(
      'invalid-request',
      `Authorization and ${ADMIN_KEY_HEADER} carry different keys; send one`,
    );
  }
  return fromBearer ?? fromHeader;
}

function bearerToken(value: string | undefined): string | null {
  if (value === undefined || value.trim() === '') return null;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) {
    throw new AdminApiError(
      'missing-key',
      'Authorization must be "Bearer <admin key>"; other schemes are not accepted on the admin API',
    );
  }
  return m[1]!;
}

function single(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) throw new AdminApiError('invalid-request', `${name} given more than once`);
  return value;
}

const SINGLE_HEADERS: readonly string[] = ['authorization', ADMIN_KEY_HEADER, ACTOR_HEADER];

/** Two keys or two names on one request are refused rather than guessed at (see repeatedHeader). */
export function refuseRepeatedHeaders(rawHeaders: readonly string[]): void {
  const name = repeatedHeader(rawHeaders, SINGLE_HEADERS);
  if (name !== null) throw new AdminApiError('invalid-request', `${name} given more than once`);
}

function readActor(headers: FastifyRequest['headers']): string | null {
  const latin1 = single(headers[ACTOR_HEADER], ACTOR_HEADER)?.trim();
  if (latin1 === undefined || latin1 === '') return null;
  // Node reads header bytes as latin1; a name like "Zoë" arrives as its UTF-8 bytes, which the
  // erasure log (an audit record) must keep as sent, not as "ZoÃ«". Bytes that are not UTF-8
  // are taken as the latin1 that HTTP headers once were.
  const raw = utf8OrLatin1(latin1);
  // Control characters (C0, DEL, C1) are not printable and would reach requested_by.
  if ([...raw].length > MAX_ACTOR_CHARS || /[\x00-\x1f\x7f-\x9f]/.test(raw)) {
    throw new AdminApiError(
      'invalid-request',
      `${ACTOR_HEADER} must be at most ${MAX_ACTOR_CHARS} printable characters`,
    );
  }
  return raw;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8OrLatin1(latin1: string): string {
  try {
    return STRICT_UTF8.decode(Buffer.from(latin1, 'latin1'));
  } catch {
    return latin1;
  }
}

export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 12);
}

/**
 * Resolves the project an admin request may act on. Throws an AdminApiError: `missing-key` or
 * `unknown-key` (401), `write-key` (403), `invalid-request` (400), `unavailable` (503).
 */
export async function resolveAdminProject(store: Store, request: FastifyRequest): Promise<AdminContext> {
  refuseRepeatedHeaders(request.raw.rawHeaders);
  const key = readAdminKey(request.headers);
  if (key === null) {
    throw new AdminApiError(
      'missing-key',
      `send the project's admin key as "Authorization: Bearer <admin key>" or ${ADMIN_KEY_HEADER}`,
    );
  }
  const actor = readActor(request.headers);
  let found: Awaited<ReturnType<Store['findProjectByKey']>>;
  try {
    found = key.length > MAX_KEY_CHARS ? null : await store.findProjectByKey(key);
  } catch (err) {
    throw toAdminApiError(err);
  }
  if (found === null) throw new AdminApiError('unknown-key', 'the key belongs to no project');
  if (found.role !== 'admin') {
    throw new AdminApiError(
      'write-key',
      "this is the project's write key, which may only send events; the admin API needs its admin key",
    );
  }
  const fingerprint = keyFingerprint(key);
  const byKey = `admin key sha256:${fingerprint}`;
  return {
    project: found.project,
    keyFingerprint: fingerprint,
    actor,
    requestedBy: actor === null ? byKey : `${actor} (${byKey})`,
  };
}

const contexts = new WeakMap<FastifyRequest, AdminContext>();

/** The admin context `installAdminApi`'s hook resolved for this request. */
export function adminContext(request: FastifyRequest): AdminContext {
  const ctx = contexts.get(request);
  if (ctx === undefined)
    throw new AdminApiError('internal', 'admin route reached without the admin key check');
  return ctx;
}

/** Maps anything a handler throws onto an AdminApiError (StoreError kinds, Fastify validation). */
export function toAdminApiError(err: unknown): AdminApiError {
  if (err instanceof AdminApiError) return err;
  if (err instanceof StoreError) {
    if (err.kind === 'invalid-input')
      return new AdminApiError('invalid-request', err.message, { cause: err });
    if (err.kind === 'unknown-project')
      return new AdminApiError('unknown-project', err.message, { cause: err });
    const why =
      err.kind === 'disk-full'
        ? "the server's disk is full; retry once room is freed"
        : `storage is unavailable (${err.kind}); retry later`;
    return new AdminApiError('unavailable', why, { cause: err });
  }
  const fe = err as Partial<FastifyError>;
  if (fe.validation !== undefined) {
    return new AdminApiError('invalid-request', fe.message ?? 'invalid request', { cause: err });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own refusals keep their status: a client told 400 would look for a bad parameter.
    const kind =
      fe.statusCode === 415
        ? 'unsupported-media-type'
        : fe.statusCode === 413
          ? 'too-large'
          : 'invalid-request';
    return new AdminApiError(kind, fe.message ?? 'invalid request', { cause: err });
  }
  return new AdminApiError('internal', 'internal error', { cause: err });
}

/** An admin API failure of one kind is logged at most this often, ms (each request still gets its answer). */
export const ADMIN_FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * Answers `err` as `{ error, message }`. A failure of the server's own (`internal`, or the store
 * `unavailable`) is logged at error level, at most once per kind per
 * ADMIN_FAILURE_LOG_INTERVAL_MS through `throttle` with how many were left out: a dashboard
 * polling through a storage outage would otherwise write a line per request.
 */
export function sendAdminError(
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
  retryAfterSeconds: number = ADMIN_RETRY_AFTER_SECONDS,
  throttle: (kind: string) => number | null = () => 0,
): FastifyReply {
  const e = toAdminApiError(err);
  if (e.kind === 'internal' || e.kind === 'unavailable') {
    const skipped = throttle(e.kind);
    if (skipped !== null) {
      request.log.error(
        {
          kind: e.kind,
          error: loggableError(e.cause ?? e),
          ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}),
        },
        'admin API request failed',
      );
    }
  }
  if (e.kind === 'unavailable') reply.header('retry-after', String(retryAfterSeconds));
  return reply
    .code(e.statusCode)
    .type('application/json; charset=utf-8')
    .send({ error: e.kind, message: e.message });
}

/** A Content-Encoding other than identity, quoted for a message (shortened), or null. */
function refusedContentEncoding(header: string | string[] | undefined): string | null {
  const value = (Array.isArray(header) ? header.join(', ') : (header ?? '')).trim();
  if (value === '' || value.toLowerCase() === 'identity') return null;
  return JSON.stringify(value.slice(0, 40));
}

/** Whether Fastify reads a body of this request: its method may have one, and it has one. */
function carriesBody(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Adds the admin key check (before validation, so an unauthenticated caller learns nothing about
 * the routes' parameters), the refusal of compressed bodies (415), the reading of a Content-Type
 * that is not a media type and the `{ error, message }`
 * error handler, whose 503s carry `retryAfterSeconds`, to `fastify`'s context.
 * Call it inside an encapsulated plugin, before declaring its routes.
 */
export function installAdminApi(
  fastify: FastifyInstance,
  { store, retryAfterSeconds = ADMIN_RETRY_AFTER_SECONDS }: AdminRouteOptions,
): void {
  fastify.addHook('onRequest', async (request, reply) => {
    // Personal data: no cache along the way may keep a copy.
    reply.header('cache-control', 'no-store');
    contexts.set(request, await resolveAdminProject(store, request));
  });
  // Fastify's validator drops unknown query keys silently; a typo such as `?distinctId=` would
  // then widen a query (or an erasure's scope) without a word, so unknown keys are refused.
  fastify.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.querystring as { properties?: object } | undefined;
    if (schema === undefined) return;
    const known = schema.properties ?? {};
    const query = (request.query ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(query).filter((k) => !Object.hasOwn(known, k));
    if (unknown.length > 0) {
      const allowed = Object.keys(known);
      throw new AdminApiError(
        'invalid-request',
        `unknown query parameter ${unknown.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}; ` +
          (allowed.length > 0 ? `this route takes ${allowed.join(', ')}` : 'this route takes none'),
      );
    }
  });
  // Fastify's JSON parser reads the bytes as they come: a gzip body would be answered 400 "not
  // valid JSON", which sends the caller looking for a bad document instead of the header.
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = refusedContentEncoding(request.headers['content-encoding']);
    if (encoding === null) return done(null, payload);
    done(
      new AdminApiError(
        'unsupported-media-type',
        `Content-Encoding ${encoding} is not accepted on the admin API; send the body uncompressed (identity)`,
      ),
    );
  });
  // A Content-Type that is not a media type (`;;;===`, `json`) counts as none, as on ingest:
  // Fastify refused every such request with its own 415, a DELETE without a body included.
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const header = request.headers['content-type'];
    if (header === undefined || request.mediaType !== undefined) return done(null, payload);
    if (!carriesBody(request)) {
      delete request.raw.headers['content-type'];
      return done(null, payload);
    }
    // A body with it is one of a type no admin route reads (they read JSON, and take none).
    done(
      new AdminApiError(
        'unsupported-media-type',
        `Content-Type ${JSON.stringify(header.slice(0, 40))} is not a media type; a body on the admin ` +
          'API is read only as application/json (its routes take none)',
      ),
    );
  });
  const throttle = logThrottle(ADMIN_FAILURE_LOG_INTERVAL_MS);
  fastify.setErrorHandler((err, request, reply) =>
    sendAdminError(request, reply, err, retryAfterSeconds, throttle),
  );
}
