import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Requests that asked for `100 Continue` and have not been sent it yet. */
const awaiting = new WeakSet<IncomingMessage>();

/** Whether this request asked for `100 Continue` and nothing has started reading its body yet. */
export function awaitsContinue(req: IncomingMessage): boolean {
  return awaiting.has(req);
}

/**
 * Answers `Expect: 100-continue` once something starts reading the body, not as soon as the
 * headers arrive (Node's default, which told a client to send a body the server then refused
 * unread: 413 by Content-Length, 415 for its Content-Encoding, 503 while shutting down, 401 on
 * the admin API). The request goes through the app like any other, so every refusal decided
 * from its headers is answered instead of 100, in its route's shape, with its CORS headers,
 * counted and logged as usual; Node then closes the connection, as the client may or may not
 * send the body. A request that is read gets its 100 at that moment and goes on as usual.
 */
export function continueWhenBodyIsRead(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // Node closes the connection of a request that asked for 100 and was never sent it. One with
    // no body (Content-Length: 0 or none, a DELETE, a GET) is never read, so it gets its 100 now
    // and its connection stays open for the next request.
    if (!hasBody(req)) {
      res.writeContinue();
      server.emit('request', req, res);
      return;
    }
    awaiting.add(req);
    // Readable calls _read when a consumer first asks for data, whichever way it reads (a 'data'
    // listener, pipe, read()); IncomingMessage's own pulls from the socket. Node's own drain of
    // a body nobody read, after the answer, calls it too: no 100 goes out after a final status.
    const readFromSocket = req._read;
    req._read = function continueThenRead(this: IncomingMessage, size: number): void {
      req._read = readFromSocket;
      awaiting.delete(req);
      if (!res.headersSent && !res.writableEnded && !res.destroyed) res.writeContinue();
      readFromSocket.call(this, size);
    };
    server.emit('request', req, res);
  });
}

/** Whether the request says a body follows: chunked, or a Content-Length above 0. */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) !== 0;
}
