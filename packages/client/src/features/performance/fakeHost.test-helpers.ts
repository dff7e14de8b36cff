import type { FeatureHost } from '../feature.js';

export interface TrackedEvent {
  event: string;
  properties: Record<string, any>;
}

/** A FeatureHost that keeps what features track, with a clock the test moves. */
export function fakeHost(start = Date.UTC(2026, 0, 1)): FeatureHost & {
  events: TrackedEvent[];
  debug: { message: string; details?: Record<string, unknown> }[];
  clock: { now: number };
  named(event: string): Record<string, any>[];
} {
  const events: TrackedEvent[] = [];
  const debug: { message: string; details?: Record<string, unknown> }[] = [];
  const clock = { now: start };
  return {
    events,
    debug,
    clock,
    named: (event) => events.filter((e) => e.event === event).map((e) => e.properties),
    track(event, properties = {}) {
      // Like the pipeline: the event is serialised at once, so later changes by the feature do not leak in.
      events.push({ event, properties: JSON.parse(JSON.stringify(properties)) });
    },
    persist: async () => {},
    logger: {
      debug: (message, details) => void debug.push({ message, details }),
      warn: () => {},
      error: () => {},
    },
    now: () => clock.now,
  };
}
