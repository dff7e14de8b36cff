import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { loggableError } from '../loggableError.js';
import type { StoredEvent } from '../store/store.js';
import {
  AdminApiError,
  adminContext,
  type AdminRouteOptions,
  installAdminApi,
  toAdminApiError,
} from './adminAuth.js';
import {
  checkId,
  digitsString,
  eventPageQuerySchema,
  parseLimit,
  eventPageResponseSchema,
  pageBounds,
  QUERY_LIMITS,
  queryEventPage,
  toWireEvent,
  type EventPageQueryString,
} from './query.js';

/**
 * A person's data rights (design 003), admin key: access (`GET …/events`, paged JSON), export
 * (`GET …/export`, an NDJSON download streamed from the store), erasure (`DELETE`, logged as
 * who/when/how many, never the data; the store also keeps the person's late events from before it
 * out, see store/suppressions.ts) and the erasure log (`GET /api/erasures`). The first three take
 * the person's id in the path or the query string (see IdForm), and each answer names it.
 */

export const PERSONS_LIMITS = {
  /** Export bytes gathered into one write; also the stream's buffer, so memory stays ~this. */
  exportChunkBytes: 64 * 1024,
  /** Erasure log entries a page holds when `limit` is absent, newest first. */
  defaultErasures: 100,
  /** Most entries one page may hold. */
  maxErasures: 10_000,
  /**
   * How long an export's write may wait for its client to read before the export is ended and
   * its connection closed, ms. Node's requestTimeout covers only receiving the request: a client
   * that never read held its chunks and a file descriptor for good. Minutes, not seconds: the
   * server sees a slow reader's progress only once the socket buffers between them (megabytes on
   * a fast link) have room again, which a client reading 8 KB/s took over a minute to make (the
   * re-probe of a 60 s bound cut it off while it read).
   */
  exportStallMs: 10 * 60_000,
} as const;

export interface PersonsRouteOptions extends AdminRouteOptions {
  /** PERSONS_LIMITS.exportStallMs when absent (tests pass a shorter one). */
  exportStallMs?: number;
}

/** The erasure log's next page starts below this entry's `seq`. */
function encodeErasureCursor(seq: number): string {
  return Buffer.from(JSON.stringify(['e', seq])).toString('base64url');
}

function decodeErasureCursor(value: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      parsed[0] === 'e' &&
      Number.isSafeInteger(parsed[1]) &&
      (parsed[1] as number) >= 1
    ) {
      return parsed[1] as number;
    }
  } catch {}
  throw new AdminApiError(
    'invalid-request',
    'cursor is not one the erasure log handed out; pass `next` as it came',
  );
}

interface PersonParams {
  distinct_id: string;
}

const distinctIdSchema = { type: 'string', minLength: 1, maxLength: QUERY_LIMITS.maxIdChars } as const;

const personParams = {
  type: 'object',
  required: ['distinct_id'],
  properties: { distinct_id: distinctIdSchema },
} as const;

/**
 * Where a person route reads the id. The path form (`/api/persons/<id>/events`) is what most
 * callers build; the query form (`/api/persons/events?distinct_id=<id>`) reaches every id. HTTP
 * clients (fetch, browsers, curl, axios) resolve a `.` or `..` path segment before the request
 * leaves (WHATWG URLs `%2E%2E` too), and encodeURIComponent leaves dots as they are: the person
 * `..` asked for in the path form became `GET /api/events`, every person's events. A proxy that
 * decodes `%2F` in paths rewrites other ids. Neither touches a query string.
 * Fastify's router tries a static path before a parametric one and falls back to the parametric
 * route when the static one has no child for the rest, so a person named `events` is still
 * `/api/persons/events/events` in the path form.
 */
type IdForm = 'path' | 'query';

const ID_FORMS: readonly IdForm[] = ['path', 'query'];

const PERSON_URLS: Record<IdForm, { events: string; export: string; erase: string }> = {
  path: {
    events: '/api/persons/:distinct_id/events',
    export: '/api/persons/:distinct_id/export',
    erase: '/api/persons/:distinct_id',
  },
  query: { events: '/api/persons/events', export: '/api/persons/export', erase: '/api/persons' },
};

interface QueryStringSchema {
  type: 'object';
  properties: object;
}

/** A person route's params and query string schemas: the query form adds `distinct_id`. */
function personSchemas(form: IdForm, querystring: QueryStringSchema): object {
  if (form === 'path') return { params: personParams, querystring };
  return {
    querystring: { ...querystring, properties: { ...querystring.properties, distinct_id: distinctIdSchema } },
  };
}

/** The id a person route is asked about, checked by the rule ingest applies. */
function personId(form: IdForm, request: FastifyRequest): string {
  const id =
    form === 'path'
      ? (request.params as PersonParams).distinct_id
      : (request.query as Partial<PersonParams>).distinct_id;
  if (id === undefined) {
    // Also where a path-form request for the person "." lands (`/api/persons/./events`).
    throw new AdminApiError(
      'invalid-request',
      'distinct_id is missing: send it in the query string, ?distinct_id=<id> (URL-encoded); a person ' +
        'whose id is "." or ".." is reached only this way, as URLs drop such path segments',
    );
  }
  checkId(id, 'distinct_id');
  return id;
}

/**
 * The export's header naming its person, percent-encoded (decodeURIComponent gives the id): an
 * empty export has no line that says whose it is, and a caller checks that it got the one it asked.
 */
export const DISTINCT_ID_HEADER = 'x-homing-distinct-id';

/** Access's 200: a page of events and the person it is about. */
const personPageResponseSchema = {
  ...eventPageResponseSchema,
  required: ['distinct_id', ...eventPageResponseSchema.required],
  properties: { distinct_id: { type: 'string' }, ...eventPageResponseSchema.properties },
} as const;

const noQuery = { type: 'object', properties: {} } as const;

/**
 * A file name for the download: the id's safe characters, and the exact id in `filename*`. Where
 * the safe name is not the id itself, a hash of the id follows it: curl and others read only
 * `filename`, and every all-Chinese id was `homing-person-_.ndjson` (`a b` and `a+b` one file
 * too), so an operator exporting several persons overwrote, or failed to save, all but one.
 */
export function exportDisposition(distinctId: string): string {
  const plain = distinctId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
  const safe =
    plain === distinctId && plain !== ''
      ? plain
      : `${plain === '' ? 'person' : plain}-${createHash('sha256').update(distinctId).digest('hex').slice(0, 10)}`;
  // Cut at 200 code points, not UTF-16 units: half an emoji would make encodeURIComponent throw.
  // toWellFormed covers a lone surrogate in the id itself (the routes refuse those already).
  const head = (
    Array.from(distinctId).slice(0, 200).join('') as string & { toWellFormed(): string }
  ).toWellFormed();
  return (
    `attachment; filename="homing-person-${safe}.ndjson"; ` +
    `filename*=UTF-8''${encodeURIComponent(`homing-person-${head}.ndjson`)}`
  );
}

/**
 * NDJSON lines of the export, gathered into chunks. `Readable.from` pulls the next chunk only when
 * the socket has drained the last ones, so a slow download holds a few chunks in memory, not the
 * person's events.
 */
async function* ndjsonChunks(
  first: IteratorResult<StoredEvent>,
  rest: AsyncIterator<StoredEvent>,
  /** Called each time the stream asks for the next chunk (the previous one was taken). */
  onPull: () => void,
): AsyncGenerator<string> {
  let chunk = '';
  try {
    for (let r = first; r.done !== true; r = await rest.next()) {
      chunk += `${JSON.stringify(toWireEvent(r.value))}\n`;
      if (chunk.length >= PERSONS_LIMITS.exportChunkBytes) {
        for (const piece of exportPieces(chunk)) {
          yield piece;
          onPull();
        }
        chunk = '';
      }
    }
    if (chunk !== '') yield* exportPieces(chunk);
  } finally {
    // A client that hangs up ends the store's pager too.
    await rest.return?.();
  }
}

/**
 * `chunk` in pieces of at most `exportChunkBytes` UTF-16 units, never between the two halves of a
 * surrogate pair. One large event made a chunk of its own (an event may hold 1 MB): the socket
 * drained only once a client had read all of it, and one reading 8 KB/s drained nothing for over
 * a minute and was taken for stalled (`endWhenStalled`) while it read.
 */
export function* exportPieces(chunk: string, size = PERSONS_LIMITS.exportChunkBytes): Generator<string> {
  let at = 0;
  while (chunk.length - at > size) {
    let end = at + size;
    const last = chunk.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    yield chunk.slice(at, end);
    at = end;
  }
  yield at === 0 ? chunk : chunk.slice(at);
}

/**
 * Ends a streamed reply whose client stopped reading: once a write has waited `stallMs` for the
 * socket to drain (no drain and no chunk taken since), the response and its socket are destroyed
 * and `onStall` runs, once. A slow client that keeps reading drains between its reads and is
 * left alone; so is a slow store (nothing is waiting to drain then). Answers what counts as
 * progress, for the body's producer to call.
 */
function endWhenStalled(res: ServerResponse, stallMs: number, onStall: () => void): () => void {
  const timer = setTimeout(() => {
    if (!res.writableNeedDrain) {
      timer.refresh();
      return;
    }
    onStall();
    res.destroy();
  }, stallMs).unref();
  const progress = (): void => {
    timer.refresh();
  };
  res.on('drain', progress);
  res.once('close', () => {
    clearTimeout(timer);
    res.off('drain', progress);
  });
  return progress;
}

export const personsRoutes: FastifyPluginAsync<PersonsRouteOptions> = async (fastify, options) => {
  const { store, exportStallMs = PERSONS_LIMITS.exportStallMs } = options;
  installAdminApi(fastify, options);

  for (const form of ID_FORMS) {
    fastify.get<{ Querystring: EventPageQueryString }>(
      PERSON_URLS[form].events,
      {
        schema: {
          ...personSchemas(form, eventPageQuerySchema),
          response: { 200: personPageResponseSchema },
        },
      },
      async (request) => {
        const { project } = adminContext(request);
        const distinctId = personId(form, request);
        const page = await queryEventPage(store, {
          projectId: project.id,
          distinctId,
          ...pageBounds(request.query, Date.now()),
        });
        return { distinct_id: distinctId, events: page.events.map(toWireEvent), next: page.next };
      },
    );

    fastify.get(
      PERSON_URLS[form].export,
      { schema: personSchemas(form, noQuery) },
      async (request, reply) => {
        const { project } = adminContext(request);
        const distinctId = personId(form, request);
        reply
          .header('content-type', 'application/x-ndjson; charset=utf-8')
          .header('content-disposition', exportDisposition(distinctId))
          .header(DISTINCT_ID_HEADER, encodeURIComponent(distinctId));
        // Fastify answers HEAD by running this handler and draining the body: that would read the
        // whole export from the store to throw it away.
        if (request.method === 'HEAD') return reply.send();
        const events = store.personEvents(project.id, distinctId)[Symbol.asyncIterator]();
        // The first read happens before the headers go out, so a store that is down answers 503
        // instead of a 200 that breaks off.
        const first = await events.next();
        const progress = endWhenStalled(reply.raw, exportStallMs, () => {
          // No id and no event: the person's data stays out of the log.
          request.log.warn(
            { kind: 'export-stalled', stalledMs: exportStallMs },
            'person export ended: its client read nothing for the stall bound, connection closed',
          );
        });
        const body = Readable.from(ndjsonChunks(first, events, progress), {
          objectMode: false,
          highWaterMark: PERSONS_LIMITS.exportChunkBytes,
        });
        body.on('error', (err) => {
          // Headers are sent by now: the response is cut off (no final chunk), so the client sees
          // an incomplete download rather than a short file that looks whole.
          request.log.error(
            { kind: 'export-failed', error: loggableError(err) },
            'person export failed mid-stream',
          );
        });
        return reply.send(body);
      },
    );

    fastify.delete(
      PERSON_URLS[form].erase,
      {
        schema: {
          ...personSchemas(form, noQuery),
          response: {
            200: {
              type: 'object',
              required: ['deleted', 'distinct_id'],
              properties: { deleted: { type: 'integer' }, distinct_id: { type: 'string' } },
            },
          },
        },
      },
      async (request) => {
        const { project, requestedBy } = adminContext(request);
        const distinctId = personId(form, request);
        let deleted: number;
        try {
          deleted = await store.erasePerson(project.id, distinctId, requestedBy);
        } catch (err) {
          // The store records the erasure (its suppression entry) before it deletes: a failure
          // after that leaves the person's stored events in place but already refuses new ones.
          // Say so, so the caller knows the DELETE is to be sent again, not given up.
          const answer = toAdminApiError(err);
          if (answer.kind !== 'unavailable') throw answer;
          throw new AdminApiError(
            'unavailable',
            `${answer.message}. The erasure may be partly done: new events of this person may ` +
              'already be refused while the stored ones remain; send the same DELETE again to finish it',
            { cause: err },
          );
        }
        request.log.info({ project: project.id, deleted, requestedBy }, 'person erased');
        return { deleted, distinct_id: distinctId };
      },
    );
  }

  fastify.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/api/erasures',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: digitsString,
            cursor: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['erasures', 'next'],
            properties: {
              erasures: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    distinct_id: { type: 'string' },
                    requested_by: { type: 'string' },
                    deleted_count: { type: 'integer' },
                    erased_at: { type: 'string' },
                  },
                },
              },
              next: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    async (request) => {
      const { project } = adminContext(request);
      const limit = parseLimit(
        request.query.limit,
        'limit',
        PERSONS_LIMITS.maxErasures,
        PERSONS_LIMITS.defaultErasures,
      );
      const beforeSeq =
        request.query.cursor === undefined ? undefined : decodeErasureCursor(request.query.cursor);
      // One more than the page: whether another page follows is known now, so the last page
      // answers next: null instead of sending the client for an empty one.
      const log = await store.listErasures({ projectId: project.id, limit: limit + 1, beforeSeq });
      const page = log.slice(0, limit);
      return {
        erasures: page.map((e) => ({
          distinct_id: e.distinctId,
          requested_by: e.requestedBy,
          deleted_count: e.deletedCount,
          erased_at: e.erasedAt,
        })),
        next: log.length > limit ? encodeErasureCursor(page[page.length - 1]!.seq) : null,
      };
    },
  );

  // A distinct_id longer than the router's maxParamLength matches no parametric route; without
  // this the caller would get a bare 404 instead of the reason.
  const config = fastify.initialConfig as {
    maxParamLength?: number;
    routerOptions?: { maxParamLength?: number };
  };
  const maxParam = config.routerOptions?.maxParamLength ?? config.maxParamLength ?? 100;
  // Not OPTIONS: CORS preflights belong to the CORS plugin, and carry no key.
  fastify.route({
    method: ['GET', 'HEAD', 'DELETE', 'POST', 'PUT', 'PATCH'],
    url: '/api/persons/*',
    handler: async (request) => {
      const path = request.url.split('?')[0]!;
      const m = /^\/api\/persons\/([^/]+)(?:\/events|\/export)?$/.exec(path);
      if (m && m[1]!.length > maxParam) {
        throw new AdminApiError(
          'invalid-request',
          `distinct_id is longer than this server accepts in a path (${maxParam} characters URL-encoded)`,
        );
      }
      // Never the path itself: it may hold a distinct id, and answers end up in clients' logs.
      throw new AdminApiError(
        'not-found',
        `no admin route answers ${request.method.slice(0, 16)} at this path; see the admin API in the server's README`,
      );
    },
  });
};
