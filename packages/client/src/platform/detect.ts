import { createBrowserPlatform } from './browser.js';
import { createGenericPlatform } from './generic.js';
import { createLazyNodePlatform } from './lazyNodePlatform.js';
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
 * Safe to bundle for browsers: no `node:` module is imported statically from here. Under Node
 * the platform loads `./node.js` (zlib, the file outbox) on first use of gzip or the default
 * outbox; a bundler still sees that dynamic import and may emit it as a separate chunk that a
 * page never loads.
 */
export function detectPlatform(): Platform {
  switch (detectPlatformName()) {
    case 'browser':
      return createBrowserPlatform();
    case 'node':
      return createLazyNodePlatform();
    default:
      return createGenericPlatform();
  }
}
