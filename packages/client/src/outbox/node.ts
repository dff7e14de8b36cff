/**
 * The Node-only outbox (it uses node:fs), kept apart from `./index.js` so browser bundles never
 * load it. Everything browser-safe is re-exported too, so Node code can import from here alone.
 */
export * from './index.js';
export { createFileOutbox } from './file-log/createFileOutbox.js';
export { FileOutbox } from './file-log/FileOutbox.js';
export { FILE_OUTBOX_DEFAULTS } from './file-log/options.js';
export type { FileOutboxOptions } from './file-log/options.js';
