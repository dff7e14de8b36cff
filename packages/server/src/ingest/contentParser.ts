import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { awaitsContinue } from '../expectContinue.js';
import { parsePayload } from './parsePayload.js';
import { type BodyBytesBudget, budgetSource } from './bodyBytesBudget.js';
import { readBody } from './readBody.js';
import type { WriteKeys } from './writeKeys.js';

/** What an ingest body may be, checked before it is parsed. */
export interface IngestBodyLimits {
  /** Bytes after decompression. */
  readonly maxBytes: number;
  /** Nesting of arrays and objects (the body itself is level 1): `maxBodyDepth`. */
  readonly maxDepth: number;
  /** Bytes every body being read and parsed at once may hold together (`maxBodyBytesInFlight`). */
  readonly budget: BodyBytesBudget;
  /** Seconds a body refused for the budget asks the client to wait. */
  readonly retryAfterSeconds: number;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function compressionOf(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown> | undefined;
  const c = q?.compression;
  return typeof c === 'string' ? c : undefined;
}

/** How a route's requests carry a write key in a header, and where keys are looked up. */
export interface HeaderKey {
  readonly keys: WriteKeys;
  /** The key of the request's header (Bearer, Basic), if it has one; throws for a malformed one. */
  readonly of: (req: FastifyRequest) => string | undefined;
}

/**
 * Replaces Fastify's body parsers in the ingest routes' scope with one for every content
 * type: the SDKs send JSON as application/json, text/plain (no CORS preflight), forms
 * (posthog-js beacons) and gzip with or without saying so. The body arrives as a JSON value.
 * With `headerKey`, a request waiting for `100 Continue` has the key of its header checked
 * before its body is asked for (see expectContinue.ts).
 */
export function useIngestBodyParser(
  app: FastifyInstance,
  limits: IngestBodyLimits,
  headerKey?: HeaderKey,
): void {
  app.removeAllContentTypeParsers();
  // Fastify refuses a Content-Type that is not a media type (`json`, `a b`) with its own 415
  // before any parser runs. This one takes every type, so such a header counts as none.
  app.addHook('preParsing', (req, _reply, payload, done) => {
    if (req.raw.headers['content-type'] !== undefined && req.mediaType === undefined) {
      delete req.raw.headers['content-type'];
    }
    done(null, payload);
  });
  app.addContentTypeParser('*', async (req: FastifyRequest, payload: NodeJS.ReadableStream) => {
    if (headerKey !== undefined && awaitsContinue(req.raw)) {
      // A key in a header that opens no project refuses the request whatever its body holds (a
      // key there too must be the same one): the client is told before it sends the body. Without
      // one the key may be in the body, which is asked for. Found keys are remembered, so the
      // lookup after the body is read costs nothing more.
      const key = headerKey.of(req);
      if (key !== undefined) await headerKey.keys.resolve(key);
    }
    const compression = compressionOf(req);
    const source = budgetSource(req.ip);
    const budget = {
      take: (n: number) => limits.budget.take(n, source),
      give: (n: number) => limits.budget.give(n, source),
    };
    const body = await readBody(payload as Readable, {
      contentEncoding: header(req, 'content-encoding'),
      contentLength: header(req, 'content-length'),
      compression,
      maxBytes: limits.maxBytes,
      budget,
      retryAfterSeconds: limits.retryAfterSeconds,
    });
    try {
      return parsePayload(body, {
        contentType: header(req, 'content-type'),
        compression,
        maxDepth: limits.maxDepth,
      });
    } finally {
      budget.give(body.length);
    }
  });
}
