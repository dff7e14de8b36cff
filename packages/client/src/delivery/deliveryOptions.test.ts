import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELIVERY_OPTIONS,
  MIN_RETRY_WAIT_MS,
  resolveDeliveryOptions,
  withWaitFloors,
} from './deliveryOptions.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { DeliveryOptionError } from './errors.js';

const homing = { destination: 'homing' as const, host: 'https://homing.example.com/', key: 'wk' };

function optionError(input: unknown): DeliveryOptionError {
  try {
    resolveDeliveryOptions(input as DeliveryOptionsInput);
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryOptionError);
    expect((error as DeliveryOptionError).kind).toBe('delivery-option');
    return error as DeliveryOptionError;
  }
  throw new Error('expected a DeliveryOptionError');
}

describe('resolveDeliveryOptions', () => {
  it('fills every default, and keeps 0 where 0 is allowed', () => {
    const o = resolveDeliveryOptions({ endpoints: [homing] });
    expect(o).toMatchObject({ ...DEFAULT_DELIVERY_OPTIONS, endpoints: [expect.anything()] });
    expect(o.batchSize).toBe(100);
    expect(o.batchBytes).toBe(512 * 1024);
    expect(o.intervalMs).toBe(5_000);
    expect(o.endpoints[0]).toEqual({
      id: 'homing:https://homing.example.com',
      destination: 'homing',
      host: 'https://homing.example.com',
      key: 'wk',
      send: undefined,
    });
    const zeros = resolveDeliveryOptions({
      endpoints: [homing],
      intervalMs: 0,
      gzipMinBytes: 0,
      maxRetryAfterMs: 0,
      exitFlushTimeoutMs: 0,
      unloadBudgetBytes: 0,
      retry: { initialMs: 0, maxMs: 0 },
      breaker: { halfOpenAfterMs: 0 },
    });
    expect(zeros).toMatchObject({
      intervalMs: 0,
      gzipMinBytes: 0,
      maxRetryAfterMs: 0,
      exitFlushTimeoutMs: 0,
    });
    expect(zeros.retry).toEqual({ initialMs: 0, factor: 2, maxMs: 0 });
    expect(zeros.breaker.halfOpenAfterMs).toBe(0);
  });

  it('delivery runs with the retry and breaker waits at their floor; the resolved options keep what was set', () => {
    const zeros = resolveDeliveryOptions({
      endpoints: [homing],
      retry: { initialMs: 0, maxMs: 1 },
      breaker: { halfOpenAfterMs: 0 },
    });
    const used = withWaitFloors(zeros);
    expect(used.retry).toEqual({ initialMs: MIN_RETRY_WAIT_MS, factor: 2, maxMs: MIN_RETRY_WAIT_MS });
    expect(used.breaker.halfOpenAfterMs).toBe(MIN_RETRY_WAIT_MS);
    expect(zeros.retry).toEqual({ initialMs: 0, factor: 2, maxMs: 1 });
    const longer = resolveDeliveryOptions({ endpoints: [homing], retry: { initialMs: 500 } });
    expect(withWaitFloors(longer).retry).toEqual(longer.retry);
  });

  it("a host without its scheme ('localhost:8080') is refused with the URL it should be", () => {
    expect(() => resolveDeliveryOptions({ endpoints: [{ ...homing, host: 'localhost:8080' }] })).toThrow(
      "must use http or https, got localhost: (did you mean 'http://localhost:8080'?)",
    );
    expect(() => resolveDeliveryOptions({ endpoints: [{ ...homing, host: 'ftp://x' }] })).toThrow(
      /got ftp:$/,
    );
  });

  it.each([
    [null, 'options'],
    ['x', 'options'],
    [{}, 'endpoints'],
    [{ endpoints: [] }, 'endpoints'],
    [{ endpoints: [homing], batchSize: 0 }, 'batchSize'],
    [{ endpoints: [homing], batchSize: 1.5 }, 'batchSize'],
    [{ endpoints: [homing], batchSize: '100' }, 'batchSize'],
    [{ endpoints: [homing], batchBytes: -1 }, 'batchBytes'],
    [{ endpoints: [homing], intervalMs: Number.NaN }, 'intervalMs'],
    [{ endpoints: [homing], intervalMs: 1e12 }, 'intervalMs'],
    [{ endpoints: [homing], requestTimeoutMs: 0 }, 'requestTimeoutMs'],
    [{ endpoints: [homing], concurrency: 0 }, 'concurrency'],
    [{ endpoints: [homing], mode: 'broadcast' }, 'mode'],
    [{ endpoints: [homing], gzip: 'yes' }, 'gzip'],
    [{ endpoints: [homing], retry: { factor: 0.5 } }, 'retry.factor'],
    [{ endpoints: [homing], retry: { initialMs: -5 } }, 'retry.initialMs'],
    [{ endpoints: [homing], retry: { jitter: 'none' } }, 'retry.jitter'],
    [{ endpoints: [homing], breaker: { threshold: 0 } }, 'breaker.threshold'],
    [{ endpoints: [homing], breaker: 5 }, 'breaker'],
    [{ endpoints: [homing], batchSzie: 10 }, 'batchSzie'],
    [{ endpoints: [{ ...homing, destination: 'kafka' }] }, 'endpoints[0].destination'],
    [{ endpoints: [{ ...homing, host: 'ftp://x' }] }, 'endpoints[0].host'],
    [{ endpoints: [{ ...homing, host: 'not a url' }] }, 'endpoints[0].host'],
    [{ endpoints: [{ ...homing, host: 'https://x/?a=1' }] }, 'endpoints[0].host'],
    [{ endpoints: [{ ...homing, key: '' }] }, 'endpoints[0].key'],
    [{ endpoints: [{ ...homing, key: 'a\nb' }] }, 'endpoints[0].key'],
    [{ endpoints: [{ ...homing, key: 42 }] }, 'endpoints[0].key'],
    [{ endpoints: [{ ...homing, key: 'abc\u0000def' }] }, 'endpoints[0].key'],
    [{ endpoints: [{ ...homing, key: 'key\u20ac1' }] }, 'endpoints[0].key'],
    [{ endpoints: [{ ...homing, key: 'hw_abc\u200b' }] }, 'endpoints[0].key'],
    [
      { endpoints: [{ destination: 'segment', host: 'https://s.example', key: 'w\u007fk' }] },
      'endpoints[0].key',
    ],
    [{ endpoints: [{ ...homing, host: 'https://admin:s3cret@homing.example.com' }] }, 'endpoints[0].host'],
    [{ endpoints: [{ ...homing, host: 'https://token@homing.example.com' }] }, 'endpoints[0].host'],
    [{ endpoints: [homing, { destination: 'custom' }] }, 'endpoints[1].send'],
    [{ endpoints: [{ ...homing, send: async () => {} }] }, 'endpoints[0].send'],
    [{ endpoints: [homing, homing] }, 'endpoints[1].name'],
    [{ endpoints: [{ ...homing, name: '' }] }, 'endpoints[0].name'],
    [{ endpoints: [{ ...homing, extra: 1 }] }, 'endpoints[0].extra'],
    [{ endpoints: Array.from({ length: 17 }, (_, i) => ({ ...homing, name: `e${i}` })) }, 'endpoints'],
  ])('refuses %j naming %s', (input, option) => {
    expect(optionError(input).option).toBe(option);
  });

  it.each(['https://x/?', 'https://x?', 'https://x/#', 'https://x/a/?#', 'https://x/?#top'])(
    'refuses the host %s: an empty query or fragment is still one (the request URL would be wrong)',
    (host) => {
      const error = optionError({ endpoints: [{ ...homing, host }] });
      expect(error.option).toBe('endpoints[0].host');
      // The same refusal as for a query with a value.
      expect(error.message).toBe(optionError({ endpoints: [{ ...homing, host: 'https://x/?a=1' }] }).message);
    },
  );

  it('accepts a ? or # escaped in the path: only a delimiter is refused', () => {
    const o = resolveDeliveryOptions({ endpoints: [{ ...homing, host: 'https://x/a%3Fb%23c/' }] });
    expect(o.endpoints[0]!.host).toBe('https://x/a%3Fb%23c');
  });

  it('gives endpoints stable ids: the name, else destination and host (custom: its index)', () => {
    const o = resolveDeliveryOptions({
      endpoints: [
        { ...homing, name: 'primary' },
        { destination: 'custom', send: async () => {} },
        { destination: 'posthog', host: 'https://eu.i.posthog.com', key: 'phc_x' },
      ],
    });
    expect(o.endpoints.map((e) => e.id)).toEqual(['primary', 'custom:1', 'posthog:https://eu.i.posthog.com']);
  });

  it('names a key with an invisible character by its code point, and lets a custom endpoint keep any key', () => {
    expect(optionError({ endpoints: [{ ...homing, key: 'hw_abc\u200b' }] }).message).toContain(
      'U+200B at index 6',
    );
    const o = resolveDeliveryOptions({
      endpoints: [{ destination: 'custom', send: async () => {}, key: 'clé ü' }],
    });
    expect(o.endpoints[0]!.key).toBe('clé ü');
  });

  it('keeps the host as parsed: surrounding spaces dropped, the path escaped, no trailing slash', () => {
    const o = resolveDeliveryOptions({
      endpoints: [
        { ...homing, host: ' http://127.0.0.1:4021/ ', name: 'a' },
        { ...homing, host: 'https://HOMING.example.com/base path/', name: 'b' },
      ],
    });
    expect(o.endpoints.map((e) => e.host)).toEqual([
      'http://127.0.0.1:4021',
      'https://homing.example.com/base%20path',
    ]);
  });
});

describe('platform delivery defaults', () => {
  const endpoints = [{ destination: 'homing' as const, host: 'https://h.example', key: 'k' }];

  it('browsers send 128 KiB batches, two at a time: gzip runs on the main thread there', () => {
    const browser = resolveDeliveryOptions({ endpoints }, 'browser');
    expect(browser.batchBytes).toBe(128 * 1024);
    expect(browser.concurrency).toBe(2);
    const node = resolveDeliveryOptions({ endpoints }, 'node');
    expect(node.batchBytes).toBe(DEFAULT_DELIVERY_OPTIONS.batchBytes);
    expect(node.concurrency).toBe(DEFAULT_DELIVERY_OPTIONS.concurrency);
  });

  it("the app's own values win over a platform's defaults", () => {
    const o = resolveDeliveryOptions({ endpoints, batchBytes: 600_000, concurrency: 6 }, 'browser');
    expect(o.batchBytes).toBe(600_000);
    expect(o.concurrency).toBe(6);
  });
});
