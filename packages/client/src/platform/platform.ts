import type { HeadersLike } from '@homing/resilience';
import type { Outbox } from '../outbox/outbox.js';
import type { RequestBody } from './jsonParts.js';

/**
 * Everything that differs between Node and browsers sits behind this one interface
 * (`platform/node.ts`, `platform/browser.ts`, chosen once by `platform/detect.ts`), so the
 * pipeline never checks `typeof window`.
 */
export interface Platform {
  readonly name: 'node' | 'browser' | 'other';

  /** An environment variable (Node) or undefined where there is none. */
  env(name: string): string | undefined;

  /** The outbox used when the app does not pass one: file (Node), IndexedDB (browser), memory. */
  createDefaultOutbox(options: DefaultOutboxOptions): Outbox;

  /**
   * gzip a body's UTF-8 without blocking the caller's turn (zlib async / CompressionStream). A
   * batch comes as its pieces (`JsonParts`); a platform of the app's own may simply compress
   * `bodyText(body)`.
   */
  gzip(body: RequestBody): Promise<Uint8Array>;
  /** Whether `gzip` can be used at all here. */
  readonly canGzip: boolean;

  /** The fetch to send with. */
  fetch(url: string, init: RequestInit): Promise<Response>;

  /**
   * A POST cheaper than `fetch` where the platform has one; delivery prefers it. On Node it is
   * `node:http` with a keep-alive agent: undici's fetch cost about 4x its CPU per batch sent
   * (1.7-2.3 ms against 0.4 ms for a 100-event batch, measured), which capped delivery.
   * Rejects on a network error or an abort, like fetch; any HTTP status resolves.
   */
  readonly post?: (url: string, request: PostRequest) => Promise<PostResponse>;

  /**
   * Lets go of what the platform keeps open between requests (Node: the kept-alive connections of
   * `post`), once requests in flight ended; requests after it still work. A client calls it at the
   * end of `shutdown()` on a platform it made itself, never on one the app passed (which may serve
   * other clients). Absent where there is nothing to close (fetch: the runtime owns its connections).
   */
  close?(): void;

  /** false while the browser reports it is offline; always true on Node. */
  isOnline(): boolean;
  /** Subscribe to online/offline changes; returns the unsubscribe function. */
  onOnlineChange(listener: (online: boolean) => void): () => void;

  /**
   * Called when the host is about to go away: Node's `beforeExit`, a browser's `pagehide` or
   * `visibilitychange` to hidden. Returns the unsubscribe function.
   */
  onExit(listener: () => void | Promise<void>): () => void;

  /**
   * Node's `exit`: the process ends in this turn (`process.exit()` skips `beforeExit`), so the
   * listener must finish synchronously. Where there is no such moment, absent. Returns the
   * unsubscribe function.
   */
  onExitNow?(listener: () => void): () => void;

  /**
   * Best-effort send that survives page unload (`fetch` with `keepalive` or `sendBeacon`,
   * 64 KB budget). Resolves true when the platform accepted it for sending; null where there is
   * no such mechanism (Node).
   */
  sendOnUnload: ((url: string, body: string, headers: Record<string, string>) => boolean) | null;
}

export interface DefaultOutboxOptions {
  /** A name that separates the outboxes of different apps/projects on one machine. */
  name: string;
  /** Directory for the file outbox (Node); default: the user's cache dir + `/homing/<name>`. */
  directory?: string;
}

export interface PostRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  readonly signal?: AbortSignal;
}

export interface PostResponse {
  readonly status: number;
  readonly headers: HeadersLike;
  /** The answer's body as UTF-8 (cut at 1 MiB), partial if the connection broke after the status. */
  readonly text: string;
}
