/**
 * `@homing/client` on Node (the `node` export condition, and `@homing/client/node`): everything
 * of the browser-safe entry, plus the file outbox, the Node platform, and a `createTelemetry`
 * whose default storage is a file outbox in the user's cache directory.
 */
import type { TelemetryClient } from './telemetry/client.js';
import { createTelemetryWith } from './telemetry/createTelemetry.js';
import type { TelemetryOptions } from './telemetry/options.js';
import { nodeRuntime } from './telemetry/runtime.node.js';

export * from './publicApi.js';
export { createFileOutbox, FileOutbox, FILE_OUTBOX_DEFAULTS } from './outbox/node.js';
export type { FileOutboxOptions } from './outbox/node.js';
export { UnsafeDirectoryError } from './outbox/file-log/UnsafeDirectoryError.js';
export { createNodePlatform } from './platform/node.js';
export type { NodePlatformOptions } from './platform/node.js';
export { defaultOutboxDirectory, userCacheDirectory } from './platform/cacheDirectory.node.js';
export { detectPlatform } from './platform/detect.js';
export { INSTALL_ID_FILE } from './telemetry/installIdFile.node.js';
export { consentFile } from './telemetry/consentFile.node.js';
export type { ConsentFile } from './telemetry/consentFile.node.js';
export { ConsentUnreadableError } from './telemetry/errors.js';

/** Makes the telemetry client: see `TelemetryOptions` for every option and its default. */
export function createTelemetry(options: TelemetryOptions): TelemetryClient {
  return createTelemetryWith(nodeRuntime, options);
}
