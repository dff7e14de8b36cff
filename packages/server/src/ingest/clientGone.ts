import type { FastifyReply } from 'fastify';

/**
 * Aborted when the client goes away before its answer is sent (the connection closed under a
 * request still waiting for the store): the store then drops the call if it is not committed
 * yet, instead of writing events whose sender, never told, will send them again.
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client closed the connection'));
  });
  return controller.signal;
}
