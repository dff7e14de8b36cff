import { createBrowserOutbox } from '../outbox/browser.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { createBrowserPlatform } from '../platform/browser.js';
import { createGenericPlatform } from '../platform/generic.js';
import { TelemetryOptionError } from './errors.js';
import { outboxConsentStore } from './consentStore.js';
import { SHARED_DEFAULT_NAME } from './defaultClientName.js';
import { consentCopyKey, identityLocalStorage } from './identityLocalStorage.js';
import { defaultLocalStorage, readItem } from './localStorageAccess.js';
import { withSharedDenial } from './sharedDenial.js';
import { installIdLocalStorage } from './installIdLocalStorage.js';
import { pickTuning } from './pickTuning.js';
import { sessionLocalStorage } from './sessionLocalStorage.js';
import type { TelemetryRuntime } from './runtime.js';

/**
 * Browsers and other runtimes (workers, edge): no `node:*` import anywhere below this file.
 * A page gets the browser platform and an IndexedDB outbox (falling back to localStorage, then
 * memory), with a copy of the install id in localStorage (`installIdLocalStorage.ts`) and the
 * session kept there for the origin's tabs and page loads (`sessionLocalStorage.ts`); anything
 * else the generic platform and memory.
 */
export const browserRuntime: TelemetryRuntime = {
  defaultPlatform: () => (isPage(globalThis) ? createBrowserPlatform() : createGenericPlatform()),
  defaultStorage: (platform) => (platform.name === 'browser' ? 'indexeddb' : 'memory'),
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
        // Before names were made per endpoint set, every unnamed client on an origin shared
        // `default`: a denial remembered there still holds (see `defaultClientName`).
        if (request.nameGiven || request.name === SHARED_DEFAULT_NAME) return stores;
        const deniedThere = (): boolean =>
          readItem(defaultLocalStorage, consentCopyKey(SHARED_DEFAULT_NAME)) === 'denied';
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

/**
 * The same test as `detectPlatformName` in `platform/detect.ts`, which cannot be imported here:
 * that file imports the Node platform statically.
 */
function isPage(g: { window?: unknown; document?: unknown }): boolean {
  return (
    typeof g.window === 'object' && g.window !== null && typeof g.document === 'object' && g.document !== null
  );
}
