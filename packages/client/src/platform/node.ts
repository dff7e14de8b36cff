import { promisify } from 'node:util';
import { gzip as gzipCallback, gzipSync } from 'node:zlib';
import type { Outbox } from '../outbox/outbox.js';
import { createFileOutbox } from '../outbox/node.js';
import { onBeforeExit } from './beforeExit.js';
import { defaultOutboxDirectory } from './cacheDirectory.node.js';
import { createNodeHttpPost } from './nodeHttpPost.js';
import type { DefaultOutboxOptions, Platform } from './platform.js';

const gzipAsync = promisify(gzipCallback);

/**
 * Level 1 (fastest): on event JSON it came out under 2 % larger than the default level 6, at
 * about half the CPU. Bodies up to `SYNC_GZIP_MAX_BYTES` are compressed on the spot (about
 * 65 µs for a 40 KB batch of 100 events): handing them to the thread pool cost 3-4x that in
 * CPU (measured 270-430 µs), which capped how fast a backlog drains. Larger bodies (up to
 * `batchBytes`, 512 KiB) go to the thread pool, so no body blocks the loop for long.
 */
const GZIP_OPTIONS = { level: 1 } as const;
export const SYNC_GZIP_MAX_BYTES = 64 * 1024;

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
  process?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/**
 * Node: environment from `process.env`, gzip with zlib (small bodies on the spot, large ones
 * on the thread pool), POSTs with `node:http` (the global fetch where fetch is asked for), always online, `beforeExit` as the exit hook (it fires when the
 * loop has nothing left to do, so listening to it keeps nothing alive), and a file outbox in the
 * user's cache directory (`<cache>/homing/<name>`).
 */
export function createNodePlatform(options: NodePlatformOptions = {}): Platform {
  const env = options.env ?? process.env;
  const doFetch = options.fetch ?? globalThis.fetch;
  const createOutbox = options.createOutbox ?? ((o: { directory: string }) => createFileOutbox(o));
  const proc = options.process ?? process;
  return {
    name: 'node',
    env: (name) => env[name],
    createDefaultOutbox: (o: DefaultOutboxOptions) =>
      createOutbox({ directory: o.directory ?? defaultOutboxDirectory(o.name) }),
    canGzip: true,
    gzip: async (body) => {
      const input = Buffer.from(body, 'utf8');
      const buffer =
        input.byteLength <= SYNC_GZIP_MAX_BYTES
          ? gzipSync(input, GZIP_OPTIONS)
          : await gzipAsync(input, GZIP_OPTIONS);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    },
    fetch: (url, init) => doFetch(url, init),
    ...(options.fetch === undefined ? { post: createNodeHttpPost() } : {}),
    isOnline: () => true,
    onOnlineChange: () => () => {},
    onExit: (listener) => onBeforeExit(proc, listener),
    sendOnUnload: null,
  };
}
