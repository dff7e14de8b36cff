import { createBrowserOutbox } from '../outbox/browser.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { createBrowserPlatform } from '../platform/browser.js';
import { createGenericPlatform } from '../platform/generic.js';
import { TelemetryOptionError } from './errors.js';
import { outboxConsentStore } from './consentStore.js';
import { SHARED_DEFAULT_NAME } from './defaultClientName.js';
import { consentCopyKey, identityLocalStorage } from './identityLocalStorage.js';
import { defaultLocalStorage, readItem, type SyncStorage } from './localStorageAccess.js';
import { withSharedDenial } from './sharedDenial.js';
import { installIdKey, installIdLocalStorage } from './installIdLocalStorage.js';
import { pickTuning } from './pickTuning.js';
import { sessionLocalStorage } from './sessionLocalStorage.js';
import type { TelemetryRuntime } from './runtime.js';

/**
 * Browsers and other runtimes (workers, edge): no `node:*` import anywhere below this file.
 * A page gets the browser platform, anything else the generic one. Wherever IndexedDB exists (a
 * page, every kind of worker) the outbox is IndexedDB's (falling back to localStorage, then
 * memory), with a copy of the install id in localStorage (`installIdLocalStorage.ts`) and the
 * session kept there for the origin's tabs and page loads (`sessionLocalStorage.ts`). A worker
 * has no localStorage: its install id is the one the origin's pages copied into the outbox
 * state (or one it makes there), its identity is kept in that state and its session in memory.
 * Elsewhere (edge runtimes) memory.
 */
export const browserRuntime: TelemetryRuntime = {
  defaultPlatform: () => (isPage(globalThis) ? createBrowserPlatform() : createGenericPlatform()),
  // Not by platform: a worker gets the generic platform, and on memory what it held when the
  // browser stopped it was lost uncounted, and each start made a new anonymous install id.
  defaultStorage: (platform) =>
    platform.name === 'browser' || hasIndexedDB(globalThis) ? 'indexeddb' : 'memory',
  createStorage(request) {
    switch (request.choice) {
      case 'memory':
        return {
          outbox: createMemoryOutbox({ ...request.limits, now: request.now, logger: request.logger }),
        };
      case 'indexeddb':
      case 'localStorage': {
        const outbox = createBrowserOutbox({
          name: request.name,
          storage: request.choice,
          ...(request.limits === undefined ? {} : { limits: request.limits }),
          ...pickTuning(request.tuning ?? {}, ['persistIntervalMs', 'flushEvents', 'leaseMs', 'flushOnHide']),
          logger: request.logger,
        });
        const identity = identityLocalStorage(request.name, outbox);
        const stores = {
          outbox,
          installId: installIdLocalStorage(request.name, outbox),
          identity,
          session: sessionLocalStorage(request.name),
        };
        // A new unnamed client (no install id kept under its name yet) takes a denial an earlier
        // unnamed client of this origin remembered: the shared `default` of earlier versions, or
        // the name an earlier endpoint list gave (a rotated key): see `defaultClientName`.
        if (request.nameGiven || request.name === SHARED_DEFAULT_NAME) return stores;
        if (readItem(defaultLocalStorage, installIdKey(request.name)) !== undefined) return stores;
        const siblings = unnamedConsentKeys(consentCopyKey(request.name));
        if (siblings.length === 0) return stores;
        const deniedThere = (): boolean =>
          siblings.some((k) => readItem(defaultLocalStorage, k) === 'denied');
        return { ...stores, ...withSharedDenial(outboxConsentStore(outbox), identity, deniedThere) };
      }
      case 'file':
        throw new TelemetryOptionError(
          'storage',
          "'file' needs Node: import @homing/client from Node (its node entry has the file outbox)",
        );
    }
  },
};

/** The consent-copy keys of the origin's other unnamed clients (`homing:default…:consent`). */
function unnamedConsentKeys(own: string): string[] {
  const keys: string[] = [];
  try {
    // Listed as Web Storage does; the client's own accessor reads and writes items only.
    const storage = defaultLocalStorage() as
      (SyncStorage & Partial<Pick<Storage, 'length' | 'key'>>) | undefined;
    if (storage === undefined || typeof storage.key !== 'function' || typeof storage.length !== 'number')
      return keys;
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i);
      if (key !== null && key !== own && /^homing:default(?:-[0-9a-f]{16})?:consent$/.test(key))
        keys.push(key);
    }
  } catch {
    // Storage that cannot be listed: no denial is known.
  }
  return keys;
}

function hasIndexedDB(g: { indexedDB?: unknown }): boolean {
  try {
    return g.indexedDB !== undefined && g.indexedDB !== null;
  } catch {
    // A getter that throws: no IndexedDB to use here.
    return false;
  }
}

/**
 * The same test as `detectPlatformName` in `platform/detect.ts`, which cannot be imported here:
 * that file imports the Node platform statically.
 */
function isPage(g: { window?: unknown; document?: unknown }): boolean {
  return (
    typeof g.window === 'object' && g.window !== null && typeof g.document === 'object' && g.document !== null
  );
}
