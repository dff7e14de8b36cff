import type { Outbox } from '../outbox/outbox.js';
import { createFileOutbox } from '../outbox/node.js';
import { type ExitEmitter, onBeforeExit, onProcessExit } from './beforeExit.js';
import { defaultOutboxDirectory } from './cacheDirectory.node.js';
import { createNodeGzip } from './gzipNode.js';
import { createNodeHttpPost } from './nodeHttpPost.js';
import type { DefaultOutboxOptions, Platform } from './platform.js';

export { SYNC_GZIP_MAX_BYTES } from './gzipNode.js';

export interface NodePlatformOptions {
  /** Environment to read; default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * The fetch to send with; default the global fetch (undici). When given, delivery sends with
   * it; otherwise it sends with `node:http` (`nodeHttpPost.ts`), which costs a quarter of the CPU.
   */
  fetch?: typeof fetch;
  /** Makes the default outbox; default a file outbox in `directory` or the user's cache dir. */
  createOutbox?: (options: { directory: string }) => Outbox;
  /** The process to watch for `beforeExit`; default `process`. */
  process?: ExitEmitter;
}

/**
 * Node: environment from `process.env`, gzip with zlib (small bodies on the spot, large ones
 * on the thread pool), POSTs with `node:http` (the global fetch where fetch is asked for), always online, `beforeExit` as the exit hook (it fires when the
 * loop has nothing left to do, so listening to it keeps nothing alive), and a file outbox in the
 * user's cache directory (`<cache>/homing/<name>`). `close()` closes the connections `node:http`
 * keeps alive (a client calls it at shutdown on a platform it made).
 */
export function createNodePlatform(options: NodePlatformOptions = {}): Platform {
  const env = options.env ?? process.env;
  const doFetch = options.fetch ?? globalThis.fetch;
  const createOutbox = options.createOutbox ?? ((o: { directory: string }) => createFileOutbox(o));
  const proc = options.process ?? process;
  const post = options.fetch === undefined ? createNodeHttpPost() : undefined;
  return {
    name: 'node',
    env: (name) => env[name],
    createDefaultOutbox: (o: DefaultOutboxOptions) =>
      createOutbox({ directory: o.directory ?? defaultOutboxDirectory(o.name) }),
    canGzip: true,
    gzip: createNodeGzip(),
    fetch: (url, init) => doFetch(url, init),
    ...(post === undefined ? {} : { post, close: () => post.close() }),
    isOnline: () => true,
    onOnlineChange: () => () => {},
    onExit: (listener) => onBeforeExit(proc, listener),
    onExitNow: (listener) => onProcessExit(proc, listener),
    sendOnUnload: null,
  };
}
