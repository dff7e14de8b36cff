import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { countedAsAborted } from './abortedRequests.js';
import { IngestError } from './ingest/errors.js';
import { loggableError } from './loggableError.js';
import { logThrottle } from './logThrottle.js';
import { noteRefusal } from './requestLog.js';
import { endedByTimeout } from './routes/clientError.js';
import { StoreError } from './store/errors.js';

/** A store failure of one kind is logged at most this often, ms (each request still gets its 503). */
export const STORE_FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * One place that turns errors into answers: IngestError by its kind, StoreError
 * `invalid-input` → 400 and `unknown-project` → 401, every other store failure → 503 with
 * Retry-After (the data was not committed; the client should send it again). Logs name the
 * kind and route, never the body. A refusal's kind goes on the request's one log line
 * (requestLog.ts), which is throttled; the lines written here are debug or throttled too, so a
 * client repeating a bad request cannot fill a disk with them.
 */
export function handleError(retryAfterSeconds: number) {
  // A store that fails every request (a full disk) would log a line per request: one per kind
  // per STORE_FAILURE_LOG_INTERVAL_MS, with how many were left out.
  const throttle = logThrottle(STORE_FAILURE_LOG_INTERVAL_MS);
  const abortedThrottle = logThrottle(STORE_FAILURE_LOG_INTERVAL_MS);
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err instanceof IngestError && err.kind === 'aborted') {
      // Not a malformed request: its body stopped coming, or its client left before the commit.
      // Node's own 408 (requestTimeoutMs) was
      // the answer, if any; this one goes nowhere but is sent for the record.
      const timeout = endedByTimeout(req.raw.socket);
      const kind = timeout ? 'timeout' : 'aborted';
      noteRefusal(req, kind);
      // A client that left (mid-body, or received whole before the commit) is counted as 499 and
      // logged as `request aborted` already (abortedRequests.ts): one line per request. This one
      // is for the rest: a body Node stopped waiting for (timeout), refused, or cut at shutdown.
      const skipped = req.raw.complete || countedAsAborted(req) ? null : abortedThrottle(kind);
      if (skipped !== null) {
        req.log.info(
          { kind, ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}) },
          'ingest request body not received',
        );
      }
      return reply
        .code(timeout ? 408 : err.statusCode)
        .header('connection', 'close')
        .send({ error: err.kind, message: err.message });
    }
    if (err instanceof IngestError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      // The rest of an oversized body is not read; closing stops the client from sending it.
      if (err.kind === 'too-large' || err.kind === 'unsupported-encoding')
        reply.header('connection', 'close');
      noteRefusal(req, err.kind);
      req.log.debug({ kind: err.kind, status: err.statusCode }, 'ingest request refused');
      return reply.code(err.statusCode).send({ error: err.kind, message: err.message });
    }
    if (err instanceof StoreError) {
      noteRefusal(req, err.kind);
      if (err.kind === 'invalid-input') {
        return reply.code(400).send({ error: err.kind, message: err.message });
      }
      if (err.kind === 'unknown-project') {
        return reply.code(401).send({ error: err.kind, message: 'the project of this key no longer exists' });
      }
      const skipped = throttle(err.kind);
      if (skipped !== null) {
        req.log.error(
          { kind: err.kind, message: err.message, ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}) },
          'storage failed; answered 503',
        );
      }
      return reply
        .code(503)
        .header('retry-after', String(retryAfterSeconds))
        .send({
          error: 'storage-unavailable',
          message:
            err.kind === 'disk-full'
              ? "the server's disk is full; nothing was stored, retry later"
              : 'storage failed; nothing was stored, retry later',
        });
    }
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply
        .code(status)
        .send({ error: (err as FastifyError).code ?? 'bad-request', message: err.message });
    }
    req.log.error({ error: loggableError(err) }, 'unexpected error');
    return reply.code(500).send({ error: 'internal', message: 'internal error; nothing was stored' });
  };
}
