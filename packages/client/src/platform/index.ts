/** Node / browser differences behind one interface, and the one place that picks. */
export type { DefaultOutboxOptions, Platform } from './platform.js';
export { createBrowserPlatform, UNLOAD_CONTENT_TYPE } from './browser.js';
export type { BrowserGlobals, BrowserOutboxFactories, BrowserPlatformOptions } from './browser.js';
export { createGenericPlatform } from './generic.js';
export { createNodePlatform } from './node.js';
export type { NodePlatformOptions } from './node.js';
export { defaultOutboxDirectory, userCacheDirectory } from './cacheDirectory.node.js';
export { detectPlatform, detectPlatformName } from './detect.js';
