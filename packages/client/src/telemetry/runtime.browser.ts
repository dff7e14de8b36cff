import { createBrowserOutbox } from '../outbox/browser.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { createBrowserPlatform } from '../platform/browser.js';
import { createGenericPlatform } from '../platform/generic.js';
import { TelemetryOptionError } from './errors.js';
import { identityLocalStorage } from './identityLocalStorage.js';
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
        return {
          outbox,
          installId: installIdLocalStorage(request.name, outbox),
          identity: identityLocalStorage(request.name, outbox),
          session: sessionLocalStorage(request.name),
        };
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
