import { createMemoryOutbox } from '../outbox/memory.js';
import { compressionStreamGzip } from './compressionStreamGzip.js';
import { listenOnlineChange, navigatorOnline, type OnlineEventTarget } from './onlineStatus.js';
import type { Platform } from './platform.js';

/** How often a worker's `navigator.onLine` is read: Chromium fires no online/offline event there. */
export const ONLINE_POLL_MS = 1_000;

interface GenericGlobals {
  navigator?: { readonly onLine?: unknown };
  addEventListener?: unknown;
  removeEventListener?: unknown;
}

/**
 * Neither Node nor a browser page (a worker, an edge runtime): the global fetch, gzip when
 * `CompressionStream` exists, no exit hook, and a memory outbox. Offline while
 * `navigator.onLine` is false: a worker that kept sending then opened its breakers, and once the
 * network came back waited out the half-open delay (up to 30 s) where a page sends at once.
 * Changes come from the global scope's `online`/`offline` events and from reading `onLine` every
 * `ONLINE_POLL_MS`: Chromium changes a worker's `onLine` but fires neither event there (seen with
 * its network emulation). Runtimes without `onLine` (edge) are always online.
 */
export function createGenericPlatform(): Platform {
  const g = globalThis as GenericGlobals;
  const Compression = (globalThis as { CompressionStream?: typeof CompressionStream }).CompressionStream;
  const events =
    typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
      ? (g as OnlineEventTarget)
      : undefined;
  const isOnline = (): boolean => navigatorOnline(g.navigator);
  return {
    name: 'other',
    env: () => undefined,
    createDefaultOutbox: () => createMemoryOutbox(),
    canGzip: typeof Compression === 'function',
    gzip: (body) => compressionStreamGzip(Compression, body),
    fetch: (url, init) => fetch(url, init),
    isOnline,
    onOnlineChange(listener) {
      let last = isOnline();
      const report = (online: boolean): void => {
        if (online === last) return;
        last = online;
        listener(online);
      };
      const stopEvents = listenOnlineChange(events, report);
      if (typeof g.navigator?.onLine !== 'boolean') return stopEvents;
      const timer = setInterval(() => report(isOnline()), ONLINE_POLL_MS);
      (timer as { unref?: () => void }).unref?.();
      return () => {
        stopEvents();
        clearInterval(timer);
      };
    },
    onExit: () => () => {},
    sendOnUnload: null,
  };
}
