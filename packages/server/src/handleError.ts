import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { IngestError } from './ingest/errors.js';
import { loggableError } from './loggableError.js';
import { StoreError } from './store/errors.js';

/**
 * One place that turns errors into answers: IngestError by its kind, StoreError
 * `invalid-input` → 400 and `unknown-project` → 401, every other store failure → 503 with
 * Retry-After (the data was not committed; the client should send it again). Logs name the
 * kind and route, never the body.
 */
export function handleError(retryAfterSeconds: number) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err instanceof IngestError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      // The rest of an oversized body is not read; closing stops the client from sending it.
      if (err.kind === 'too-large' || err.kind === 'unsupported-encoding')
        reply.header('connection', 'close');
      req.log.info({ kind: err.kind, status: err.statusCode }, 'ingest request refused');
      return reply.code(err.statusCode).send({ error: err.kind, message: err.message });
    }
    if (err instanceof StoreError) {
      if (err.kind === 'invalid-input') {
        return reply.code(400).send({ error: err.kind, message: err.message });
      }
      if (err.kind === 'unknown-project') {
        return reply.code(401).send({ error: err.kind, message: 'the project of this key no longer exists' });
      }
      req.log.error({ kind: err.kind, message: err.message }, 'storage failed; answered 503');
      return reply
        .code(503)
        .header('retry-after', String(retryAfterSeconds))
        .send({ error: 'storage-unavailable', message: 'storage failed; nothing was stored, retry later' });
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
