import type { Logger } from '../logger.js';

/**
 * What a telemetry feature (errors, performance, usage, health) needs from the client.
 * Features only ever produce events through `track`, so each one inherits the pipeline:
 * consent, sampling, redaction, outbox and delivery.
 */
export interface FeatureHost {
  /** Enqueue an event through the client's pipeline. Never throws, never blocks. */
  track(event: string, properties?: Record<string, unknown>): void;
  /** Push what was tracked so far into the durable outbox (used before a crash exits). */
  persist(): Promise<void>;
  logger: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now(): number;
}

/** Every feature can be stopped: timers cleared, global handlers removed. */
export interface Feature {
  close(): Promise<void> | void;
}
