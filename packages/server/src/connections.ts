import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { preHandlerHookHandler } from 'fastify';
import { logThrottle } from './logThrottle.js';

/**
 * The connections that have not sent a byte yet (a browser's preconnect, a client pool's spare
 * socket, a load balancer's TCP check). Node's closeIdleConnections takes only those that
 * finished a request, so at shutdown one such socket held close() for the whole grace period.
 * A connection leaves the set at its first request, or when it closes.
 */
export function trackUnusedConnections(server: Server): { destroyUnused(): Promise<number> } {
  const unused = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  server.on('request', (req: { socket: Socket }) => {
    unused.delete(req.socket);
  });
  return {
    /**
     * Destroys the connections that have received nothing, and answers how many. One that
     * received part of a request (bytesRead counts what Node's parser consumed) is left to
     * finish it, or to the grace period. The event loop first polls once more, so a request whose
     * bytes already arrived (sent as shutdown began) is read, and answered, rather than reset.
     */
    async destroyUnused() {
      await nextLoopTurn();
      await nextLoopTurn();
      let n = 0;
      for (const socket of unused) {
        if (socket.bytesRead === 0) {
          socket.destroy();
          n++;
        }
      }
      unused.clear();
      return n;
    },
  };
}

const nextLoopTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The "pipelined request not run" line is logged at most this often per server, ms. */
export const DROPPED_PIPELINED_LOG_INTERVAL_MS = 10_000;

/**
 * Runs a pipelined request only once its turn to be answered comes. Node parses and emits every
 * request a client pipelined at once, but answers them in order, and an answer that closes its
 * connection (`Connection: close`: a 400 for a malformed body, a 413) ends the connection before
 * the next is sent: that request would still run (events stored, even a
 * `DELETE /api/persons/:id`) while its client never learns of it. A request whose answer is
 * queued behind another (its response has no socket yet) waits for its turn; when the connection
 * closes first, it is dropped without running. Requests that are not pipelined pass at once.
 * One hook per server: its log line's throttle is that server's.
 */
export function waitForAnswerTurn(): preHandlerHookHandler {
  // One client can pipeline thousands of requests behind one that closes its connection: a line
  // each would let it write the server's log at the rate it sends bytes.
  const droppedThrottle = logThrottle(DROPPED_PIPELINED_LOG_INTERVAL_MS);
  return (req, reply, done) => {
    const res = reply.raw;
    const socket = req.raw.socket as Socket | null | undefined;
    if (socket === null || socket === undefined) return done();
    if (res.socket !== null && !socket.writableEnded) return done();
    const onTurn = (): void => {
      stopWaiting();
      done();
    };
    const onClosed = (): void => {
      res.off('socket', onTurn);
      const skipped = droppedThrottle('dropped');
      if (skipped !== null) {
        req.log.info(
          skipped > 0 ? { alsoSinceLastLine: skipped } : {},
          'pipelined request not run: its connection closed before its turn to be answered',
        );
      }
      // Nothing can be sent on a closed connection: the handler and the remaining hooks are skipped.
      reply.hijack();
      done();
    };
    // An answer before this one closed the connection and went out before Node parsed this
    // request: Node hands it the socket all the same, ended, where its answer cannot go.
    if (socket.destroyed || socket.writableEnded) return onClosed();
    const stopWaiting = whenClosed(socket, onClosed);
    res.once('socket', onTurn);
  };
}

/** Per socket: the pipelined requests waiting for their turn, told when it closes. */
const waitingOn = new WeakMap<Socket, Set<() => void>>();

/**
 * Calls `onClosed` when `socket` closes, until the function answered is called. One 'close'
 * listener per socket, whatever the number of requests waiting on it: one each made Node warn
 * of a "possible EventEmitter memory leak" from the ninth pipelined request on, outside the JSON
 * logs, which any client could set off.
 */
function whenClosed(socket: Socket, onClosed: () => void): () => void {
  let waiting = waitingOn.get(socket);
  if (waiting === undefined) {
    const set = new Set<() => void>();
    waiting = set;
    waitingOn.set(socket, set);
    socket.once('close', () => {
      waitingOn.delete(socket);
      for (const w of set) w();
    });
  }
  waiting.add(onClosed);
  const set = waiting;
  return () => void set.delete(onClosed);
}
