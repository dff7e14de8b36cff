import type { HomingEvent } from '../event.js';
import type { Sink } from '../delivery/delivery.test-helpers.js';
import { testPlatform } from '../delivery/delivery.test-helpers.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import type { TelemetryOptions } from './options.js';

export { Sink, testPlatform, until } from '../delivery/delivery.test-helpers.js';

/** Every event the sink accepted, parsed, in arrival order. */
export function sinkEvents(sink: Sink): HomingEvent[] {
  return sink.requests.flatMap((r) => {
    try {
      return (JSON.parse(r.text) as { batch?: HomingEvent[] }).batch ?? [];
    } catch {
      return [];
    }
  });
}

/** A client on a memory outbox sending to `sink` at once (batch of 1 still waits for the interval: short here). */
export function clientFor(
  sink: Sink,
  options: Partial<TelemetryOptions> = {},
  env: Record<string, string> = {},
): TelemetryClient {
  return createTelemetry({
    endpoints: [{ destination: 'homing', host: sink.url, key: 'test-key' }],
    storage: 'memory',
    platform: testPlatform({ env: (name) => env[name] }),
    ...options,
    delivery: { intervalMs: 20, retry: { initialMs: 10, maxMs: 50 }, ...options.delivery },
  });
}

/**
 * A client on a memory outbox whose custom destination collects what it is sent, for user 'u1',
 * with consent not remembered: for tests of what the pipeline turns events into.
 */
export function capturingClient(options: Partial<TelemetryOptions> = {}): {
  client: TelemetryClient;
  received: HomingEvent[];
} {
  const received: HomingEvent[] = [];
  const client = createTelemetry({
    endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
    storage: 'memory',
    rememberConsent: false,
    distinctId: 'u1',
    platform: testPlatform(),
    ...options,
  });
  return { client, received };
}
