import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics/serverMetrics.js';

/**
 * The answer to a request Node refuses before Fastify sees it: bytes that are not HTTP (a bad
 * chunk size), headers over the limit (431), a request not received within requestTimeoutMs
 * (408). Replaces Fastify's own handler, which logs the error whole: its `rawPacket` is the
 * request as received, Authorization header and event bodies included.
 */

/** The route label of these answers in homing_http_requests_total: no route saw them. */
export const CLIENT_ERROR_ROUTE = 'client-error';

/** Connections Node ended for requestTimeoutMs, so the body read they cut short says timeout. */
const timedOut = new WeakSet<Duplex>();

/** Whether Node closed this connection because its request did not arrive in time. */
export function endedByTimeout(socket: Duplex | null | undefined): boolean {
  return socket != null && timedOut.has(socket);
}

/** Connections this handler closed for a request Node refused (counted here, as client-error). */
const refused = new WeakSet<Duplex>();

/**
 * Whether Node refused a request on this connection and closed it (400, 408, 431: counted as
 * client-error), rather than the client going away.
 */
export function refusedByNode(socket: Duplex | null | undefined): boolean {
  return socket != null && refused.has(socket);
}

/** Node's ServerResponse of a request on the connection, as far as it is looked at here. */
interface ResponseInFlight {
  readonly writableFinished: boolean;
  readonly req?: { readonly complete: boolean };
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

interface ClientErrorAnswer {
  status: number;
  error: string;
  message: string;
}

function answerFor(code: string | undefined): ClientErrorAnswer {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      error: 'request-timeout',
      message: 'the request did not arrive in time (requestTimeoutMs)',
    };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, error: 'headers-too-large', message: 'the request headers are too large' };
  }
  return { status: 400, error: 'invalid-request', message: 'the request is not valid HTTP/1.1' };
}

/**
 * Fastify's clientErrorHandler (called with the server as `this`): answers as Fastify would
 * (400, 408 or 431, then closes the connection), counts the answer, and logs the error's code
 * only, never the request.
 */
export function clientErrorHandler(metrics: ServerMetrics) {
  return function onClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Duplex): void {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut.add(socket);
    // A connection reset, one already gone, or a client that ended it in the middle of a body
    // (HPE_INVALID_EOF_STATE): there is no one to answer.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || socket.destroyed) {
      // Closed on our side too, so the request whose body was cut short ends (and says aborted).
      socket.destroy();
      this.log.trace({ code: err.code }, 'client connection reset');
      return;
    }
    refused.add(socket);
    // A request before it on this connection (pipelined) is still being answered: its answer
    // goes out whole, then the connection closes; a 400 written now would have taken its place.
    // (A request whose own body is what failed is not complete: that one gets the 400.)
    const answering = (socket as { _httpMessage?: ResponseInFlight | null })._httpMessage;
    if (answering != null && !answering.writableFinished && answering.req?.complete === true) {
      this.log.trace(
        { code: err.code },
        'client error after a request still being answered: closing after it',
      );
      const close = (): void => {
        socket.destroy();
      };
      answering.once('finish', close);
      answering.once('close', close);
      return;
    }
    const a = answerFor(err.code);
    this.log.trace({ code: err.code, status: a.status }, 'client error answered');
    if (socket.writable) {
      const body = JSON.stringify({ error: a.error, message: a.message });
      socket.write(
        `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      metrics.requests.inc({ route: CLIENT_ERROR_ROUTE, method: 'unknown', status: a.status });
    }
    socket.destroy();
  };
}

/**
 * The server's 'checkExpectation' listener: a request whose `Expect` is not `100-continue`.
 * Node's own answer was an empty 417, counted nowhere; this one says why, as JSON, and counts it
 * as client-error. The body is not read: the connection closes after the answer.
 */
export function expectationFailedHandler(metrics: ServerMetrics) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const body = JSON.stringify({
      error: 'expectation-failed',
      message: 'the only Expect this server takes is 100-continue',
    });
    res.writeHead(417, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
    metrics.requests.inc({ route: CLIENT_ERROR_ROUTE, method: 'unknown', status: 417 });
  };
}

/** The methods some route of this server answers: the Allow header of the 405 to CONNECT. */
const SERVED_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';

/**
 * The server's 'connect' listener: a CONNECT request (a client that takes this server for a
 * proxy, a scanner looking for an open one). Without a listener Node closed the connection
 * without a word and counted nothing; this answers 405 as JSON and counts it as client-error
 * with method CONNECT. Node hands the connection over with no listener of its own, so its
 * errors (a reset) are caught here; it is closed once the answer is written. Requests pipelined
 * before the CONNECT are answered first.
 */
export function connectRefusedHandler(metrics: ServerMetrics) {
  return (_req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', () => {});
    // Whatever the client sends after it (a tunnel's first bytes) is read and dropped, so the
    // close is not a reset that could discard the answer; a client that never closes its side
    // is not waited for.
    socket.resume();
    socket.once('finish', () => setTimeout(() => socket.destroy(), 1000).unref());
    afterAnswersInFlight(socket, () => {
      const body = JSON.stringify({
        error: 'method-not-allowed',
        message: 'CONNECT is not served: this server is no proxy',
      });
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 405 ${STATUS_CODES[405]}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nAllow: ${SERVED_METHODS}\r\n` +
            `Connection: close\r\n\r\n${body}`,
        );
        metrics.requests.inc({ route: CLIENT_ERROR_ROUTE, method: 'CONNECT', status: 405 });
      } else {
        socket.destroy();
      }
    });
  };
}

/**
 * Calls `answer` once the answers of the requests pipelined before a CONNECT have gone out: Node
 * hands the connection over as soon as it parses the CONNECT, and a 405 written then would have
 * taken the place of an answer still being made (a 202 for events already stored, lost). When one
 * finishes, Node gives the connection to the next one waiting, so this looks again. If one is
 * closed unfinished (the connection is gone), the connection is destroyed instead.
 */
function afterAnswersInFlight(socket: Duplex, answer: () => void): void {
  const answering = (socket as { _httpMessage?: ResponseInFlight | null })._httpMessage;
  if (answering == null || answering.writableFinished) {
    answer();
    return;
  }
  let finished = false;
  answering.once('finish', () => {
    finished = true;
    afterAnswersInFlight(socket, answer);
  });
  answering.once('close', () => {
    if (!finished) socket.destroy();
  });
}
