import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parsePayload } from './parsePayload.js';
import { type BodyBytesBudget, budgetSource } from './bodyBytesBudget.js';
import { readBody } from './readBody.js';

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

/**
 * Replaces Fastify's body parsers in the ingest routes' scope with one for every content
 * type: the SDKs send JSON as application/json, text/plain (no CORS preflight), forms
 * (posthog-js beacons) and gzip with or without saying so. The body arrives as a JSON value.
 */
export function useIngestBodyParser(app: FastifyInstance, limits: IngestBodyLimits): void {
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
