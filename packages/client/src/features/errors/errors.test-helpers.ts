import type { Logger } from '../../logger.js';
import type { FeatureHost } from '../feature.js';

export interface TrackedEvent {
  event: string;
  properties: Record<string, unknown>;
}

/** A FeatureHost that keeps what was tracked, with a clock the test moves. */
export function recordingHost(start = 1_700_000_000_000): FeatureHost & {
  events: TrackedEvent[];
  logs: { level: string; message: string }[];
  clock: { now: number };
  persisted: number;
  of(event: string): Record<string, unknown>[];
} {
  const events: TrackedEvent[] = [];
  const logs: { level: string; message: string }[] = [];
  const clock = { now: start };
  const logger: Logger = {
    debug: (message) => logs.push({ level: 'debug', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  };
  const host = {
    events,
    logs,
    clock,
    persisted: 0,
    logger,
    track(event: string, properties: Record<string, unknown> = {}) {
      events.push({ event, properties });
    },
    async persist() {
      host.persisted++;
    },
    now: () => clock.now,
    of: (event: string) => events.filter((e) => e.event === event).map((e) => e.properties),
  };
  return host;
}
