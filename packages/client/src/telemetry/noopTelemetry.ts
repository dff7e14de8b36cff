import type { FeatureHost } from '../features/feature.js';
import type { Logger } from '../logger.js';
import type { TelemetryCore, TelemetryStats } from './client.js';
import { emptyDropCounts } from './client.js';
import { checkTimeout } from './resolveTelemetryOptions.js';

/**
 * The client when telemetry is off (`DO_NOT_TRACK=1`, `HOMING_DISABLED=1`, `disabled: true`):
 * no storage is opened, no timer started, nothing leaves the process. Calls are still counted
 * (as dropped, reason 'disabled') so an app can see that it is off.
 */
export function createNoopTelemetry(logger: Logger, now: () => number = Date.now): TelemetryCore {
  let tracked = 0;
  const track = (): void => {
    tracked++;
  };
  const host: FeatureHost = { track, persist: async () => {}, logger, now };
  return {
    track,
    identify: () => {},
    reset: () => {},
    register: () => {},
    unregister: () => {},
    setConsent: () => {},
    persist: async () => {},
    async flush(options) {
      checkTimeout(options);
      return { sent: 0, pending: 0, timedOut: false };
    },
    async shutdown(options) {
      checkTimeout(options);
    },
    async stats(): Promise<TelemetryStats> {
      return {
        tracked,
        fixed: 0,
        queued: 0,
        persisted: 0,
        sent: 0,
        failedAttempts: 0,
        retried: 0,
        dropped: { ...emptyDropCounts(), disabled: tracked },
        queue: null,
        breakers: {},
        lastError: null,
        consent: 'denied',
        enabled: false,
      };
    },
    on: () => () => {},
    featureHost: () => host,
  };
}
