import { Buffer } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { PostRequest, PostResponse } from './platform.js';

/** Answers longer than this are cut: delivery reads small JSON acknowledgements only. */
export const MAX_ANSWER_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 3;

export interface NodeHttpPostOptions {
  /** Connections kept per host; default 8 (delivery sends `concurrency` batches at once). */
  readonly maxSockets?: number;
}

/** A POST with `node:http`, and how to let go of its kept-alive connections. */
export interface NodeHttpPost {
  (url: string, request: PostRequest): Promise<PostResponse>;
  /**
   * Closes the kept-alive connections, at once when no request is in flight, else when the last
   * one ends (a request is never cut: a caller that no longer waits for one aborts it with its
   * signal). Their sockets are unref'd, so they never held a process open; but a process that
   * makes many clients (one per tenant, per job, per test) and talks to a server that keeps idle
   * connections for long would otherwise keep one open per client, for as long as the server
   * does. Requests after it still work; each one's connection is closed once it ends.
   */
  close(): void;
}

/**
 * POST with `node:http`/`node:https` through one keep-alive agent per protocol. No socket holds
 * the process open: idle ones are unref'd by the agent, and one in use is unref'd here, so an
 * endpoint that never answers does not keep a CLI alive until the request timeout (how long to
 * wait for it at exit is delivery's exit budget). A caller that must stay up while it waits
 * keeps something of its own alive (delivery's `flush()` has its timer).
 *
 * Redirects: 307 and 308 keep method and body, so they are followed (at most 3) within the
 * endpoint's origin, and from http: to https: on the same host. To another origin they are
 * answered as they are: the request carries the write key (a header, or PostHog's `api_key`
 * in the body) that the app gave for this endpoint, and a redirect must not hand it to another
 * server. 301, 302 and 303 would turn the POST into a GET that loses the events, so they are
 * answered as they are too; the caller classifies any such answer like other statuses (3xx:
 * permanent, so the events go to the dead letters, where they can be replayed).
 */
export function createNodeHttpPost(options: NodeHttpPostOptions = {}): NodeHttpPost {
  const maxSockets = options.maxSockets ?? 8;
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets }),
  };

  const post = (url: string, request: PostRequest, redirects: number): Promise<PostResponse> =>
    new Promise<PostResponse>((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        reject(new TypeError(`cannot POST to "${url}": not a valid URL`));
        return;
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        reject(new TypeError(`cannot POST to "${url}": only http: and https: are supported`));
        return;
      }
      const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
      const send = target.protocol === 'http:' ? http.request : https.request;
      let req: http.ClientRequest;
      try {
        req = send(
          target,
          {
            method: 'POST',
            agent: agents[target.protocol],
            headers: { ...request.headers, 'content-length': String(body.byteLength) },
            signal: request.signal,
          },
          (res) => {
            const status = res.statusCode ?? 0;
            const location = res.headers.location;
            if ((status === 307 || status === 308) && location !== undefined && redirects < MAX_REDIRECTS) {
              let next: string;
              try {
                next = new URL(location, target).href;
              } catch {
                res.resume();
                reject(new TypeError(`redirected to an invalid URL "${location}"`));
                return;
              }
              if (mayFollow(target, new URL(next))) {
                res.resume();
                post(next, request, redirects + 1).then(resolve, reject);
                return;
              }
            }
            const chunks: Buffer[] = [];
            let size = 0;
            let settled = false;
            const finish = (): void => {
              if (settled) return;
              settled = true;
              resolve({ status, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
            };
            res.on('data', (chunk: Buffer) => {
              if (size >= MAX_ANSWER_BYTES) return;
              const room = MAX_ANSWER_BYTES - size;
              chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
              size += Math.min(chunk.length, room);
            });
            res.on('end', finish);
            // The status arrived: a body cut off on the way changes nothing about it.
            res.on('error', finish);
            res.on('close', finish);
          },
        );
      } catch (error) {
        reject(error);
        return;
      }
      // A request in flight must not keep the process alive either: how long a CLI waits for
      // one at exit is delivery's exit budget, not the request timeout (the agent already
      // unrefs idle sockets; it refs a reused one again, so this runs on every request).
      req.on('socket', (socket) => socket.unref());
      req.on('error', reject);
      req.end(body);
    });

  let inFlight = 0;
  let closed = false;
  const closeWhenIdle = (): void => {
    if (!closed || inFlight > 0) return;
    agents['http:'].destroy();
    agents['https:'].destroy();
  };
  const send = (url: string, request: PostRequest): Promise<PostResponse> => {
    inFlight++;
    return post(url, request, 0).finally(() => {
      inFlight--;
      closeWhenIdle();
    });
  };
  return Object.assign(send, {
    close(): void {
      closed = true;
      closeWhenIdle();
    },
  });
}

/** Same origin, or the same host moving from http: to https: (a site that upgrades every request). */
function mayFollow(from: URL, to: URL): boolean {
  if (to.origin === from.origin) return true;
  return from.protocol === 'http:' && to.protocol === 'https:' && to.hostname === from.hostname;
}
