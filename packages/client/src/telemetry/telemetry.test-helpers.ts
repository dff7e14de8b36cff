import type { HomingEvent } from '../event.js';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Sink, testPlatform } from '../delivery/delivery.test-helpers.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import type { TelemetryOptions } from './options.js';

export { Sink, testPlatform, until } from '../delivery/delivery.test-helpers.js';

/**
 * One sink for a describe block's tests, handed to `started`: started before them; between them
 * the block's `clients` are shut down and the sink emptied (its handler back to the first one);
 * taken down after them.
 */
export function sinkForSuite(clients: TelemetryClient[], started: (sink: Sink) => void): void {
  let sink: Sink;
  let handler: Sink['handler'];
  beforeAll(async () => {
    sink = await Sink.start();
    handler = sink.handler;
    started(sink);
  });
  beforeEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 2_000 });
    sink.requests.length = 0;
    sink.acceptedUuids.length = 0;
    sink.handler = handler;
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 2_000 });
    await sink.down();
  });
}

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

/** An object no walk can read: every trap a clone or a key listing uses throws. */
export function unreadableObject(): Record<string, unknown> {
  const refuse = (what: string) => () => {
    throw new Error(`no ${what}`);
  };
  return new Proxy(
    {},
    {
      ownKeys: refuse('keys'),
      get: refuse('get'),
      getOwnPropertyDescriptor: refuse('descriptor'),
      getPrototypeOf: refuse('prototype'),
    },
  );
}
