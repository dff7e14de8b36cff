import type { FastifyCorsOptions } from '@fastify/cors';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Set on routes a page may call with credentials (posthog-js's XHR sets withCredentials):
     * ingest and PostHog's flag routes. Their answers say nothing a page could use.
     */
    corsCredentials?: boolean;
  }
}

/** What every answer allows, credentialed or not. */
const SHARED: FastifyCorsOptions = {
  methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowedHeaders: [
    'authorization',
    'content-type',
    'content-encoding',
    // Segment's analytics.js numbers each resend of a message; refused, every resend failed its
    // preflight and the message was lost after the first 429 or 503.
    'x-retry-count',
    'x-homing-admin-key',
    'x-homing-actor',
  ],
  // A browser admin UI reads the export's file name, whose person it is, and the backoff of a 429/503.
  exposedHeaders: ['content-disposition', 'x-homing-distinct-id', 'retry-after'],
  maxAge: 86_400,
};

/** What a preflight is answered with, for a path no route could be found for (frameworkErrors.ts). */
export const CORS_PREFLIGHT = {
  methods: SHARED.methods as string[],
  allowedHeaders: SHARED.allowedHeaders as string[],
  maxAge: SHARED.maxAge as number,
};

/**
 * @fastify/cors options, decided per request by path. Routes marked `corsCredentials` (see
 * `noteRoute`) allow credentialed requests: a browser refuses `Access-Control-Allow-Origin: *`
 * for those, so the origin is reflected (each allowed one, or any with `'*'`) with
 * `Access-Control-Allow-Credentials: true`, as PostHog's own servers answer. Other routes (the
 * admin API, metrics, health) keep plain CORS: this server uses no cookies, but a proxy in front
 * of it might accept credentials (a session, HTTP auth), and a page of any origin must not read
 * admin answers with them. The preflight asks at the route's path, so the path decides.
 */
export class CorsPolicy {
  private readonly credentialedPaths = new Set<string>();
  private readonly plain: FastifyCorsOptions;
  private readonly credentialed: FastifyCorsOptions;
  private readonly plainNoPreflight: FastifyCorsOptions;
  private readonly credentialedNoPreflight: FastifyCorsOptions;

  constructor(corsOrigins: '*' | readonly string[]) {
    const list = corsOrigins === '*' ? null : [...corsOrigins];
    this.plain = { ...SHARED, origin: list ?? '*' };
    this.credentialed = { ...SHARED, origin: list ?? true, credentials: true };
    // For an OPTIONS that is no preflight: the CORS headers of any answer, and no answer of
    // @fastify/cors's own (its text/plain 400), so the app's hook refuses it as JSON.
    this.plainNoPreflight = { ...this.plain, preflight: false };
    this.credentialedNoPreflight = { ...this.credentialed, preflight: false };
  }

  /** For Fastify's onRoute hook: remembers the paths of routes marked `corsCredentials`. */
  readonly noteRoute = (route: RouteOptions): void => {
    if (route.config?.corsCredentials === true) this.credentialedPaths.add(withoutTrailingSlash(route.url));
  };

  /** The options to register @fastify/cors with. */
  options(): FastifyCorsOptions {
    return {
      delegator: (req: FastifyRequest, done: (err: Error | null, o: FastifyCorsOptions) => void) => {
        // `Origin: null` (a sandboxed iframe, a file:// page) is any page's to send: reflected
        // with credentials it is the textbook CORS hole, so it gets the plain answer.
        const credentialed = req.headers.origin !== 'null' && this.credentialedPaths.has(pathOf(req.url));
        const noPreflight = req.method === 'OPTIONS' && !isPreflight(req);
        if (credentialed) done(null, noPreflight ? this.credentialedNoPreflight : this.credentialed);
        else done(null, noPreflight ? this.plainNoPreflight : this.plain);
      },
    };
  }
}

/** Whether a request is a CORS preflight (an OPTIONS with Origin and Access-Control-Request-Method). */
export function isPreflight(req: FastifyRequest): boolean {
  return (
    req.method === 'OPTIONS' &&
    Boolean(req.headers.origin) &&
    Boolean(req.headers['access-control-request-method'])
  );
}

/** The path of a request URL, without its query string or a trailing slash (ignoreTrailingSlash). */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return withoutTrailingSlash(q === -1 ? url : url.slice(0, q));
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * The onRequest hook that refuses (403) a request from an origin not in the list; null for
 * `'*'`. A page may POST a "simple" body (text/plain, a beacon) to another origin without
 * asking first; CORS only keeps it from reading the answer, so such a request from an origin
 * not allowed was stored all the same. Refused whatever the route or method (a preflight is
 * @fastify/cors's to answer). The server's own origin is taken too, as the address and port the
 * connection reached, never from the Host header: that is the page's to choose (DNS rebinding:
 * a page at attacker.example, resolved to this server, sends Host and Origin attacker.example).
 * An app served at another name of this server (behind a proxy, `localhost`) is listed.
 */
export function originRefusal(corsOrigins: '*' | readonly string[]): onRequestHookHandler | null {
  if (corsOrigins === '*') return null;
  const allowed = new Set(corsOrigins);
  return (req, reply, done) => {
    const origin = req.headers.origin;
    if (
      origin === undefined ||
      req.method === 'OPTIONS' ||
      allowed.has(origin) ||
      origin === connectionOrigin(req)
    )
      return done();
    void reply.code(403).send({
      error: 'origin-not-allowed',
      message:
        'this server does not accept requests from this origin: add it to corsOrigins (homing serve --cors-origins) to accept them',
    });
  };
}

/**
 * The origin a page served over this connection would have: the local address and port it
 * reached, which the server listens on (an IPv4 client of a `::` socket reaches `::ffff:a.b.c.d`,
 * which a browser names `a.b.c.d`); null when the request came over no socket (inject).
 */
function connectionOrigin(req: FastifyRequest): string | null {
  const socket = req.socket as Partial<TLSSocket> | undefined;
  const address = socket?.localAddress;
  const port = socket?.localPort;
  if (address === undefined || port === undefined) return null;
  const ip = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const scheme = socket?.encrypted === true ? 'https' : 'http';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === (scheme === 'https' ? 443 : 80) ? `${scheme}://${host}` : `${scheme}://${host}:${port}`;
}
