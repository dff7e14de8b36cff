import { createBrowserPlatform } from './browser.js';
import { createGenericPlatform } from './generic.js';
import { createNodePlatform } from './node.js';
import type { Platform } from './platform.js';

export interface RuntimeGlobals {
  window?: unknown;
  document?: unknown;
  process?: { versions?: { node?: unknown } };
}

/** Which platform these globals describe. A page (window and document) wins over a `process` shim. */
export function detectPlatformName(g: RuntimeGlobals = globalThis as RuntimeGlobals): Platform['name'] {
  if (
    typeof g.window === 'object' &&
    g.window !== null &&
    typeof g.document === 'object' &&
    g.document !== null
  ) {
    return 'browser';
  }
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return 'other';
}

/**
 * The one place that decides Node vs browser, once, so nothing else checks `typeof window`.
 *
 * This file imports the Node platform statically, so it is for Node and for bundles that map
 * `./node.js` away; a browser-only entry should call `createBrowserPlatform()` directly.
 */
export function detectPlatform(): Platform {
  switch (detectPlatformName()) {
    case 'browser':
      return createBrowserPlatform();
    case 'node':
      return createNodePlatform();
    default:
      return createGenericPlatform();
  }
}
