import { createMemoryOutbox } from '../outbox/memory.js';
import { compressionStreamGzip } from './compressionStreamGzip.js';
import type { Platform } from './platform.js';

/**
 * Neither Node nor a browser page (a worker, an edge runtime): the global fetch, gzip when
 * `CompressionStream` exists, always online, no exit hook, and a memory outbox.
 */
export function createGenericPlatform(): Platform {
  const Compression = (globalThis as { CompressionStream?: typeof CompressionStream }).CompressionStream;
  return {
    name: 'other',
    env: () => undefined,
    createDefaultOutbox: () => createMemoryOutbox(),
    canGzip: typeof Compression === 'function',
    gzip: (body) => compressionStreamGzip(Compression, body),
    fetch: (url, init) => fetch(url, init),
    isOnline: () => true,
    onOnlineChange: () => () => {},
    onExit: () => () => {},
    sendOnUnload: null,
  };
}
