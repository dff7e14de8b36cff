/**
 * `@homing/client` for browsers and other non-Node runtimes (workers, edge). Nothing reachable
 * from here imports `node:*`; Node resolves the package to `index.node.ts` (the `node` export
 * condition), which adds the file outbox and the Node platform. See package.json `exports`.
 */
import type { TelemetryClient } from './telemetry/client.js';
import { createTelemetryWith } from './telemetry/createTelemetry.js';
import type { TelemetryOptions } from './telemetry/options.js';
import { browserRuntime } from './telemetry/runtime.browser.js';

export * from './publicApi.js';

/** Makes the telemetry client: see `TelemetryOptions` for every option and its default. */
export function createTelemetry(options: TelemetryOptions): TelemetryClient {
  return createTelemetryWith(browserRuntime, options);
}
