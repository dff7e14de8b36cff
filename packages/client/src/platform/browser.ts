import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import type { DefaultOutboxOptions, Platform } from './platform.js';
import { compressionStreamGzip } from './compressionStreamGzip.js';
import { listenOnlineChange, navigatorOnline } from './onlineStatus.js';

interface Listenable {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** The browser globals this platform uses; tests pass their own. Default: `globalThis`. */
export interface BrowserGlobals {
  window?: Listenable;
  document?: Listenable & { readonly visibilityState?: string };
  navigator?: { readonly onLine?: boolean; sendBeacon?(url: string, data: Blob): boolean };
  fetch?: typeof fetch;
  CompressionStream?: typeof CompressionStream;
  indexedDB?: unknown;
  localStorage?: unknown;
}

/** Makers of the browser outboxes, best first; each answers null when its storage is missing. */
export interface BrowserOutboxFactories {
  indexedDB?: (options: DefaultOutboxOptions) => Outbox | null;
  localStorage?: (options: DefaultOutboxOptions) => Outbox | null;
}

export interface BrowserPlatformOptions {
  globals?: BrowserGlobals;
  outboxes?: BrowserOutboxFactories;
}

/** The content type of unload sends: CORS-safelisted, so the browser sends no preflight. */
export const UNLOAD_CONTENT_TYPE = 'text/plain;charset=UTF-8';

/**
 * Browsers: no environment, gzip with `CompressionStream` (not on the caller's turn, but
 * Chromium compresses on the main thread in later tasks, about 0.1 ms per KB: the browser's
 * smaller batches in `PLATFORM_DELIVERY_DEFAULTS` keep each well under a 50 ms long task),
 * `navigator.onLine` with the online/offline events, `pagehide` and `visibilitychange`
 * to hidden as the exit hook (hidden is often the last event a mobile page gets), and
 * `sendBeacon` for unload sends, always as text/plain: a beacon with another content type needs
 * a CORS preflight, which is lost when the page goes away. The Homing server reads text/plain
 * bodies as JSON. Default outbox: IndexedDB, else localStorage, else memory.
 */
export function createBrowserPlatform(options: BrowserPlatformOptions = {}): Platform {
  const g: BrowserGlobals = options.globals ?? (globalThis as unknown as BrowserGlobals);
  const win = g.window;
  const doc = g.document;
  const nav = g.navigator;
  const Compression = g.CompressionStream;
  const doFetch = g.fetch;
  const callFetch = (url: string, init: RequestInit): Promise<Response> => {
    if (doFetch === undefined) return Promise.reject(new TypeError('fetch is not available'));
    // Called unbound, window.fetch throws "Illegal invocation".
    return Reflect.apply(doFetch, globalThis, [url, init]) as Promise<Response>;
  };
  return {
    name: 'browser',
    env: () => undefined,
    createDefaultOutbox: (o) => createBrowserOutbox(o, g, options.outboxes ?? {}),
    canGzip: typeof Compression === 'function',
    gzip: (body) => compressionStreamGzip(Compression, body),
    fetch: callFetch,
    isOnline: () => navigatorOnline(nav),
    onOnlineChange: (listener) => listenOnlineChange(win, listener),
    onExit(listener) {
      const run = (): void => {
        try {
          const result = listener();
          if (result !== undefined) result.catch(() => undefined);
        } catch {
          // Never throw into the page's own unload handling.
        }
      };
      const onVisibility = (): void => {
        if (doc?.visibilityState === 'hidden') run();
      };
      win?.addEventListener('pagehide', run);
      doc?.addEventListener('visibilitychange', onVisibility);
      return () => {
        win?.removeEventListener('pagehide', run);
        doc?.removeEventListener('visibilitychange', onVisibility);
      };
    },
    sendOnUnload(url, body) {
      // Always text/plain whatever the caller's headers say: see UNLOAD_CONTENT_TYPE.
      const blob = new Blob([body], { type: UNLOAD_CONTENT_TYPE });
      try {
        if (typeof nav?.sendBeacon === 'function') return nav.sendBeacon(url, blob);
        void callFetch(url, {
          method: 'POST',
          body: blob,
          keepalive: true,
          headers: { 'content-type': UNLOAD_CONTENT_TYPE },
        }).catch(() => undefined);
        return true;
      } catch {
        return false;
      }
    },
  };
}

function createBrowserOutbox(
  options: DefaultOutboxOptions,
  g: BrowserGlobals,
  factories: BrowserOutboxFactories,
): Outbox {
  if (g.indexedDB !== undefined && g.indexedDB !== null && factories.indexedDB !== undefined) {
    const outbox = tryCreate(() => factories.indexedDB!(options));
    if (outbox !== null) return outbox;
  }
  if (hasLocalStorage(g) && factories.localStorage !== undefined) {
    const outbox = tryCreate(() => factories.localStorage!(options));
    if (outbox !== null) return outbox;
  }
  return createMemoryOutbox();
}

/** localStorage can exist and still throw on access (Safari private mode, blocked cookies). */
function hasLocalStorage(g: BrowserGlobals): boolean {
  try {
    return g.localStorage !== undefined && g.localStorage !== null;
  } catch {
    return false;
  }
}

function tryCreate(make: () => Outbox | null): Outbox | null {
  try {
    return make();
  } catch {
    return null;
  }
}
