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
 * Changes come from the global scope's `online`/`offline` events, from reading `onLine` every
 * `ONLINE_POLL_MS` (Chromium changes a worker's `onLine` but fires neither event there, seen with
 * its network emulation) and from `isOnline()`, which reads it each time. Runtimes without
 * `onLine` (edge) are always online.
 */
export function createGenericPlatform(): Platform {
  const g = globalThis as GenericGlobals;
  const Compression = (globalThis as { CompressionStream?: typeof CompressionStream }).CompressionStream;
  const events =
    typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
      ? (g as OnlineEventTarget)
      : undefined;
  const read = (): boolean => navigatorOnline(g.navigator);
  const listeners = new Set<(online: boolean) => void>();
  // The last state reported, whoever saw the change first: an event, the poll, or a read by
  // isOnline() (delivery asks before each send). Were a read not to count, the network going and
  // coming back between two polls would leave the poll nothing to report, and delivery, which
  // had read offline, was never told it could send again.
  let last = read();
  const report = (online: boolean): void => {
    if (online === last) return;
    last = online;
    for (const listener of [...listeners]) listener(online);
  };
  const isOnline = (): boolean => {
    const online = read();
    // Not in the caller's turn: delivery asks from inside its own loop.
    if (online !== last) queueMicrotask(() => report(online));
    return online;
  };
  return {
    name: 'other',
    env: () => undefined,
    createDefaultOutbox: () => createMemoryOutbox(),
    canGzip: typeof Compression === 'function',
    gzip: (body) => compressionStreamGzip(Compression, body),
    fetch: (url, init) => fetch(url, init),
    isOnline,
    onOnlineChange(listener) {
      // Each listener hears the changes after it subscribed, not one from before.
      report(read());
      listeners.add(listener);
      const stopEvents = listenOnlineChange(events, report);
      const stopListening = (): void => {
        listeners.delete(listener);
        stopEvents();
      };
      if (typeof g.navigator?.onLine !== 'boolean') return stopListening;
      const timer = setInterval(() => report(read()), ONLINE_POLL_MS);
      (timer as { unref?: () => void }).unref?.();
      return () => {
        stopListening();
        clearInterval(timer);
      };
    },
    onExit: () => () => {},
    sendOnUnload: null,
  };
}
