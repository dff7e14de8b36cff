import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { Delivery } from './Delivery.js';
import type { Harness, SinkHandler, SinkReply } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, testPlatform, track, until } from './delivery.test-helpers.js';
import { resolveDeliveryOptions } from './deliveryOptions.js';
import { breakerStateKey } from './EndpointChannel.js';
import { DeliveryBusyError, DeliveryOptionError } from './errors.js';
import { silentLogger } from '../logger.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sink(handler?: SinkHandler): Promise<Sink> {
  const s = await Sink.start(handler);
  cleanups.push(() => s.down());
  return s;
}

function harness(...args: Parameters<typeof startDelivery>): Harness {
  const h = startDelivery(...args);
  cleanups.push(() => h.delivery.shutdown(0));
  return h;
}

const homing = (s: Sink, name?: string) => ({
  destination: 'homing' as const,
  host: s.url,
  key: 'wk_test',
  ...(name ? { name } : {}),
});

describe('Delivery: batching and the Homing format', () => {
  it('sends a full batch at once, by count, as { batch, sent_at } joined from the stored JSON, with the write key', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchSize: 10, intervalMs: 60_000 });
    const records = makeRecords(25);
    track(h, records.slice(0, 10));
    await until(() => s.requests.length === 1, 5_000, 'the first full batch');
    const first = s.requests[0]!;
    expect(first.path).toBe('/ingest');
    expect(first.headers.authorization).toBe('Bearer wk_test');
    const body = JSON.parse(first.text) as { batch: unknown[]; sent_at: string };
    expect(body.batch).toEqual(records.slice(0, 10).map((r) => JSON.parse(r.json)));
    expect(first.text).toContain(records[0]!.json);
    expect(Number.isNaN(Date.parse(body.sent_at))).toBe(false);

    // A full batch starts a drain of full batches; the partial rest waits for the interval (or
    // a flush): a batch goes out full, or when its time is up.
    track(h, records.slice(10));
    await until(() => s.acceptedUuids.length === 20, 5_000, 'the second full batch');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.requests.map((r) => r.uuids.length)).toEqual([10, 10]);
    await h.delivery.flush(5_000);
    expect(s.requests.map((r) => r.uuids.length)).toEqual([10, 10, 5]);
    expect(s.acceptedUuids).toHaveLength(25);
    expect(new Set(s.acceptedUuids)).toEqual(new Set(records.map((r) => r.uuid)));
    // The sink has the last batch before the client has read its answer.
    await until(() => h.delivery.stats().sent === 25, 5_000, 'the last answer');
    expect(h.events.of('sent').reduce((n, e) => n + e.count, 0)).toBe(25);
  });

  it('sends without waiting for the endpoint list to be saved, and has saved it by shutdown', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    // The list's write hangs until released (a busy process: each file operation waits its turn).
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const setState = outbox.setState.bind(outbox);
    outbox.setState = async (key, value) => {
      if (key === 'delivery:endpoints') await gate;
      return setState(key, value);
    };
    const h = startDelivery({ endpoints: [homing(s)], batchSize: 10, intervalMs: 60_000 }, { outbox });
    const records = makeRecords(10);
    track(h, records);
    await until(() => s.acceptedUuids.length === 10, 5_000, 'the batch, while the list is not saved');
    expect(await outbox.getState('delivery:endpoints')).toBeUndefined();
    const stopped = h.delivery.shutdown(1_000);
    release();
    await stopped;
    expect(await outbox.getState('delivery:endpoints')).toEqual([`homing:${s.url}`]);
    // Where it sends, for `homing flush --outbox DIR`: custom endpoints cannot be saved.
    expect(await outbox.getState('delivery:sending')).toEqual({
      mode: 'failover',
      endpoints: [{ name: `homing:${s.url}`, destination: 'homing', host: s.url, key: 'wk_test' }],
      breaker: { threshold: 5, halfOpenAfterMs: 30_000, initialHalfOpenAfterMs: 1_000 },
    });
    const custom = startDelivery(
      { endpoints: [{ destination: 'custom', send: async () => {} }] },
      { outbox },
    );
    await custom.delivery.shutdown(1_000);
    expect(await outbox.getState('delivery:sending')).toBeUndefined();
  });

  it('warns once at start when the outbox was last sent from with other endpoints, naming hosts, never keys', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    const warnings: [string, Record<string, unknown> | undefined][] = [];
    const logger = {
      debug: () => {},
      error: () => {},
      warn: (m: string, d?: Record<string, unknown>) => void warnings.push([m, d]),
    };
    const otherApp = {
      mode: 'failover',
      endpoints: [
        {
          name: 'homing:https://other.test',
          destination: 'homing',
          host: 'https://other.test',
          key: 'wk_other',
        },
      ],
    };
    await outbox.setState('delivery:sending', otherApp);
    const first = startDelivery({ endpoints: [homing(s)], intervalMs: 60_000 }, { outbox, logger });
    await first.delivery.shutdown(1_000);
    const about = warnings.filter(([m]) => m.includes('other endpoints'));
    expect(about).toHaveLength(1);
    expect(about[0]![1]).toEqual({ before: ['homing https://other.test'], now: [`homing ${s.url}`] });
    expect(JSON.stringify(about)).not.toMatch(/wk_/);
    // The same endpoints again (the next run of the same app, another key order): nothing.
    const again = startDelivery({ endpoints: [homing(s)], intervalMs: 60_000 }, { outbox, logger });
    await again.delivery.shutdown(1_000);
    expect(warnings.filter(([m]) => m.includes('other endpoints'))).toHaveLength(1);
  });

  it('sends a batch full by bytes at once, without waiting for the interval', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchBytes: 4_000, intervalMs: 60_000 });
    // Far fewer than batchSize (100), but over batchBytes together; one at a time, as track() does.
    const records = makeRecords(12, () => ({ pad: 'x'.repeat(400) }));
    for (const record of records) track(h, [record]);
    await until(() => s.requests.length > 0, 10_000, 'a request long before the 60 s interval');
    // The full batch, under batchBytes; the rest is no batch yet and waits (here for a flush).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]!.uuids.length).toBeLessThan(12);
    await h.delivery.flush(5_000);
    expect(s.acceptedUuids).toEqual(records.map((r) => r.uuid));
  });

  it('a steady trickle goes out in full batches, not in ones and twos a round trip', async () => {
    // A server that takes 15 ms: events keep arriving while each batch is on its way.
    const s = await sink(async () => {
      await new Promise((resolve) => setTimeout(resolve, 15));
      return { status: 202 };
    });
    const h = harness({ endpoints: [homing(s)], batchSize: 20, intervalMs: 60_000 });
    const records = makeRecords(200);
    for (let i = 0; i < records.length; i += 2) {
      track(h, records.slice(i, i + 2));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await until(() => s.acceptedUuids.length >= 180, 10_000, 'the full batches');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Before the interval (or a flush), only full batches went out.
    expect(s.requests.map((r) => r.uuids.length)).toEqual(Array.from({ length: 10 }, () => 20));
    await h.delivery.flush(5_000);
    expect(new Set(s.acceptedUuids).size).toBe(200);
  });

  it('sends a partial batch when the interval passes', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchSize: 100, intervalMs: 30 });
    const records = makeRecords(3);
    track(h, records);
    await until(() => s.acceptedUuids.length === 3, 5_000, 'the interval send');
    await until(async () => (await h.outbox.size()).events === 0, 5_000, 'the ack');
  });

  it('intervalMs 0: each event goes as soon as it is stored, and an idle loop does not keep claiming', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    let claims = 0;
    const claim = outbox.claim.bind(outbox);
    outbox.claim = (maxEvents, maxBytes) => {
      claims++;
      return claim(maxEvents, maxBytes);
    };
    const h = harness({ endpoints: [homing(s)], batchSize: 100, intervalMs: 0 }, { outbox });
    const records = makeRecords(3);
    track(h, records.slice(0, 1));
    await until(() => s.acceptedUuids.length === 1, 5_000, 'the first event, alone');
    track(h, records.slice(1));
    await until(() => s.acceptedUuids.length === 3, 5_000, 'the next two');
    await until(async () => (await h.outbox.size()).events === 0, 5_000, 'the acks');
    // Idle now: before, the loop looked again at once after every drain (thousands of claims
    // in this window); now it waits for an append, or ZERO_INTERVAL_RECHECK_MS.
    await new Promise((r) => setTimeout(r, 50));
    const before = claims;
    await new Promise((r) => setTimeout(r, 400));
    expect(claims - before).toBeLessThanOrEqual(1);
    // Paused: no claim, and no timer firing at once over and over either (the next look is a second away).
    h.delivery.setPaused(true);
    track(h, makeRecords(1));
    const paused = claims;
    await new Promise((r) => setTimeout(r, 300));
    expect(claims).toBe(paused);
    h.delivery.setPaused(false);
    await until(() => s.acceptedUuids.length === 4, 5_000, 'sends after resume');
  });

  it('splits by bytes: no request carries more than batchBytes of events (one larger event still goes alone)', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchBytes: 2_000, intervalMs: 60_000 });
    const records = makeRecords(20, (i) => ({ pad: 'x'.repeat(i === 7 ? 3_000 : 300) }));
    h.outbox.append(records);
    await h.delivery.flush(10_000);
    // Batches go out several at a time (`concurrency`): each once, in any order.
    expect([...s.acceptedUuids].sort()).toEqual(records.map((r) => r.uuid).sort());
    for (const req of s.requests) {
      const bytes = records
        .filter((r) => req.uuids.includes(r.uuid))
        .reduce((n, r) => n + Buffer.byteLength(r.json), 0);
      expect(bytes <= 2_000 || req.uuids.length === 1).toBe(true);
    }
  });

  it('gzips bodies over gzipMinBytes, and only those', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchSize: 1, gzipMinBytes: 1_024, intervalMs: 60_000 });
    const [small] = makeRecords(1);
    const [large] = makeRecords(1, () => ({ pad: 'y'.repeat(2_000) }));
    h.outbox.append([small!, large!]);
    await h.delivery.flush(5_000);
    expect(s.requests.map((r) => r.gzipped)).toEqual([false, true]);
    expect(s.acceptedUuids).toEqual([small!.uuid, large!.uuid]);
  });

  it('never gzips with gzip: false', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], gzip: false, intervalMs: 60_000 });
    h.outbox.append(makeRecords(1, () => ({ pad: 'y'.repeat(5_000) })));
    await h.delivery.flush(5_000);
    expect(s.requests[0]!.gzipped).toBe(false);
  });
});

describe('Delivery: failures', () => {
  it('dead-letters a batch the endpoint refuses for good (400), with the reason, and a replay delivers it', async () => {
    let refuse = true;
    const s = await sink(() => (refuse ? { status: 400, body: '{"error":"bad api key"}' } : { status: 202 }));
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 });
    const records = makeRecords(4);
    h.outbox.append(records);
    await h.delivery.flush(5_000);
    const dead = await h.outbox.listDeadLetters();
    expect(dead.map((d) => d.record.uuid)).toEqual(records.map((r) => r.uuid));
    expect(dead[0]!.reason).toContain('400');
    expect(dead[0]!.reason).toContain('bad api key');
    expect(h.delivery.stats().deadLettered).toBe(4);
    expect(h.events.of('dead-letter')).toEqual([expect.objectContaining({ count: 4 })]);
    expect(h.events.of('delivery-error')[0]).toMatchObject({ permanent: true });
    expect(s.requests).toHaveLength(1);

    refuse = false;
    expect(await h.outbox.replayDeadLetters()).toBe(4);
    await h.delivery.flush(5_000);
    expect(s.acceptedUuids).toEqual(records.map((r) => r.uuid));
    expect((await h.outbox.size()).deadLetters).toBe(0);
  });

  it('413: halves the batch until it fits, and dead-letters only a single event that is still too large', async () => {
    const s = await sink((req) => {
      if (req.text.includes('"huge"')) return { status: 413 };
      return req.uuids.length > 3 ? { status: 413 } : { status: 202 };
    });
    const h = harness({ endpoints: [homing(s)], batchSize: 20, intervalMs: 60_000 });
    const records = makeRecords(20, (i) => (i === 11 ? { kind: 'huge' } : {}));
    h.outbox.append(records);
    await h.delivery.flush(10_000);
    const huge = records[11]!.uuid;
    expect(s.acceptedUuids.sort()).toEqual(
      records
        .map((r) => r.uuid)
        .filter((u) => u !== huge)
        .sort(),
    );
    expect((await h.outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual([huge]);
    expect((await h.outbox.size()).events).toBe(0);
  });

  it('a 409 at the Homing endpoint (a proxy in front of it) proves nothing stored: kept and retried, not counted sent', async () => {
    const s = await sink(() => ({ status: 409 }));
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000, retry: { initialMs: 10, maxMs: 20 } });
    h.outbox.append(makeRecords(5));
    const result = await h.delivery.flush(300);
    expect(result.sent).toBe(0);
    expect(result.pending).toBe(5);
    expect((await h.outbox.size()).events).toBe(5);
    expect((await h.outbox.size()).deadLetters).toBe(0);
  });

  it('a 202 naming rejected events dead-letters those and acks the rest', async () => {
    const s = await sink(() => ({
      status: 202,
      body: '{"accepted":3,"rejected":[{"index":1,"error":"event name is empty"}]}',
    }));
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 });
    const records = makeRecords(4);
    h.outbox.append(records);
    expect((await h.delivery.flush(5_000)).sent).toBe(3);
    const dead = await h.outbox.listDeadLetters();
    expect(dead.map((d) => d.record.uuid)).toEqual([records[1]!.uuid]);
    expect(dead[0]!.reason).toContain('event name is empty');
  });

  it('retries a failed batch later (released, not held), obeying Retry-After on 429', async () => {
    let calls = 0;
    const s = await sink(() =>
      ++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 202 },
    );
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 });
    const records = makeRecords(3);
    h.outbox.append(records);
    const started = Date.now();
    const result = await h.delivery.flush(10_000);
    expect(result.sent).toBe(3);
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]!.atMs - s.requests[0]!.atMs).toBeGreaterThanOrEqual(1_000 - 5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000 - 5);
    expect(h.delivery.stats()).toMatchObject({ retried: 1, failedAttempts: 1, sent: 3 });
    expect(h.events.of('delivery-error')[0]).toMatchObject({ permanent: false, retryInMs: 1_000 });
  });

  it.each([
    ['0', '0'],
    ['a date in the past', 'Wed, 21 Oct 2015 07:28:00 GMT'],
  ])(
    'Retry-After: %s does not skip the backoff (the breaker does not open in milliseconds)',
    async (_, value) => {
      const s = await sink(() => ({ status: 503, headers: { 'retry-after': value } }));
      const h = harness({
        endpoints: [homing(s)],
        intervalMs: 20,
        retry: { initialMs: 1_000, maxMs: 10_000 },
        breaker: { threshold: 5, halfOpenAfterMs: 60_000 },
      });
      h.outbox.append(makeRecords(3));
      await new Promise((resolve) => setTimeout(resolve, 400));
      // Backoff of 1 s doubling, full jitter: five tries within 400 ms has a chance of about 2 in
      // 100 000, where the defect made five (and opened the breaker) within 40 ms.
      expect(s.requests.length).toBeGreaterThanOrEqual(1);
      expect(s.requests.length).toBeLessThanOrEqual(4);
      expect(h.delivery.stats().breakers[`homing:${s.url}`]!.state).toBe('closed');
      const delays = h.events.of('delivery-error').map((e) => (e as { retryInMs: number }).retryInMs);
      expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    },
  );

  it('flush sends the partial rest too when appends had started a drain of full batches only', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 });
    await h.delivery.flush(5_000);
    // 2 full batches of 100 start a drain of full batches; the 50 left wait for the interval.
    const records = makeRecords(250);
    // One at a time, as track() tells delivery: a full batch kicks a drain, and the next one,
    // full while it runs, queues another drain of full batches after it.
    for (const r of records) track(h, [r]);
    const result = await h.delivery.flush(10_000);
    expect(result).toMatchObject({ sent: 250, pending: 0, timedOut: false });
    expect(new Set(s.acceptedUuids)).toEqual(new Set(records.map((r) => r.uuid)));
  });

  it('every retry waits at least MIN_RETRY_WAIT_MS (100 ms), whatever full jitter draws', async () => {
    const s = await sink(() => ({ status: 503 }));
    const h = harness({
      endpoints: [homing(s)],
      intervalMs: 20,
      retry: { initialMs: 0, maxMs: 0 },
      breaker: { threshold: 1_000, halfOpenAfterMs: 60_000 },
    });
    h.outbox.append(makeRecords(3));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const delays = h.events.of('delivery-error').map((e) => (e as { retryInMs: number }).retryInMs);
    expect(delays.length).toBeGreaterThanOrEqual(2);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(100);
    // One request, then one per 100 ms at most: the defect sent about 20 a second.
    expect(s.requests.length).toBeLessThanOrEqual(11);
  });

  it('a failing endpoint does not hold the queue: its records are claimable while it waits', async () => {
    const s = await sink(() => ({ status: 503, headers: { 'retry-after': '30' } }));
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 });
    h.outbox.append(makeRecords(3));
    await h.delivery.flush(100);
    expect(s.requests).toHaveLength(1);
    const batch = await h.outbox.claim(10, Infinity);
    expect(batch?.records).toHaveLength(3);
    await h.outbox.release(batch!);
    expect(h.delivery.stats().breakers[`homing:${s.url}`]!.retryAtMs).toBeGreaterThan(Date.now() + 20_000);
  });

  it('a request that hangs past requestTimeoutMs is aborted and retried', async () => {
    let calls = 0;
    const s = await sink(() => (++calls === 1 ? 'hang' : { status: 202 }));
    const h = harness({
      endpoints: [homing(s)],
      requestTimeoutMs: 200,
      retry: { initialMs: 10 },
      intervalMs: 60_000,
    });
    const records = makeRecords(2);
    h.outbox.append(records);
    await h.delivery.flush(10_000);
    expect(s.acceptedUuids).toEqual(records.map((r) => r.uuid));
    expect(h.delivery.stats().lastError?.reason).toContain('timed out');
  });
});

describe('Delivery: circuit breaker saved in the outbox', () => {
  it('opens after consecutive failures, saves its snapshot, and a new Delivery on the same outbox waits out the open period', async () => {
    const s = await sink(() => ({ status: 503 }));
    const outbox = createMemoryOutbox();
    const options = {
      endpoints: [homing(s)],
      breaker: { threshold: 2, halfOpenAfterMs: 1_500 },
      retry: { initialMs: 0 },
      intervalMs: 60_000,
    };
    const first = startDelivery({ ...options, intervalMs: 10 }, { outbox });
    outbox.append(makeRecords(3));
    await until(
      () => first.delivery.stats().breakers[`homing:${s.url}`]!.state === 'open',
      10_000,
      'the breaker to open',
    );
    expect(s.requests).toHaveLength(2);
    expect(first.delivery.stats().breakers[`homing:${s.url}`]!.state).toBe('open');
    expect(first.events.of('breaker-state')).toEqual([{ endpoint: `homing:${s.url}`, state: 'open' }]);
    await first.delivery.shutdown(0);
    const saved = await outbox.getState<{ state: string; openUntil: number }>(
      breakerStateKey(`homing:${s.url}`),
    );
    expect(saved?.state).toBe('open');
    expect(await outbox.getState('delivery:endpoints')).toEqual([`homing:${s.url}`]);

    // "Restart": the endpoint is healthy again, but the new process must not call it before openUntil.
    s.handler = () => ({ status: 202 });
    const second = startDelivery({ ...options, intervalMs: 20 }, { outbox });
    cleanups.push(() => second.delivery.shutdown(0));
    await until(() => s.requests.length === 3, 10_000, 'the half-open probe');
    expect(s.requests[2]!.atMs).toBeGreaterThanOrEqual(saved!.openUntil - 5);
    await until(() => s.acceptedUuids.length === 3, 5_000, 'delivery after the probe');
    // The sink counts a batch when it arrives; the client closes the breaker once it reads the answer.
    await until(
      () => second.delivery.stats().breakers[`homing:${s.url}`]!.state !== 'half-open',
      5_000,
      'the probe answer to be read',
    );
    expect(second.delivery.stats().breakers[`homing:${s.url}`]!.state).toBe('closed');
    expect(second.events.of('breaker-state').map((e) => e.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('a saved isolated state (this client never isolates) is ignored: the endpoint is not silenced for good', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    await outbox.setState(breakerStateKey(`homing:${s.url}`), {
      version: 1,
      state: 'isolated',
      since: Date.now(),
      openUntil: 0,
      openings: 0,
      breaker: { kind: 'consecutive', count: 0 },
    });
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 }, { outbox });
    outbox.append(makeRecords(2));
    expect((await h.delivery.flush(5_000)).sent).toBe(2);
  });

  it('a saved open circuit waits at most halfOpenAfterMs from now, whatever openUntil it names (the breaker bounds it)', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    // Saved before the clock went back a day (or edited): open for another day.
    await outbox.setState(breakerStateKey(`homing:${s.url}`), {
      version: 1,
      state: 'open',
      since: Date.now(),
      openUntil: Date.now() + 86_400_000,
      openings: 1,
      breaker: { kind: 'consecutive', count: 0 },
    });
    const startedAt = Date.now();
    const h = harness(
      { endpoints: [homing(s)], intervalMs: 20, breaker: { threshold: 2, halfOpenAfterMs: 300 } },
      { outbox },
    );
    outbox.append(makeRecords(2));
    await until(() => s.acceptedUuids.length === 2, 5_000, 'delivery after a probe at most 300 ms on');
    // Restored open (not ignored as unreadable): the first request waited for the probe.
    expect(s.requests[0]!.atMs - startedAt).toBeGreaterThanOrEqual(250);
    expect(h.events.of('breaker-state')[0]).toEqual({ endpoint: `homing:${s.url}`, state: 'open' });
  });

  it('an unreadable saved snapshot is ignored (starts closed)', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    await outbox.setState(breakerStateKey(`homing:${s.url}`), { version: 99, state: 'weird' });
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 }, { outbox });
    outbox.append(makeRecords(1));
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
  });
});

describe('Delivery: several endpoints', () => {
  it('failover: the next endpoint takes the batch when the first fails; the first is skipped while it waits', async () => {
    const a = await sink(() => ({ status: 503, headers: { 'retry-after': '60' } }));
    const b = await sink();
    // One batch at a time, so the second batch is claimed after the first attempt failed.
    const h = harness({
      endpoints: [homing(a, 'a'), homing(b, 'b')],
      batchSize: 5,
      intervalMs: 60_000,
      concurrency: 1,
    });
    const records = makeRecords(10);
    h.outbox.append(records);
    await h.delivery.flush(5_000);
    expect(b.acceptedUuids).toEqual(records.map((r) => r.uuid));
    expect(a.requests).toHaveLength(1);
    expect(h.events.of('sent').map((e) => e.endpoint)).toEqual(['b', 'b']);
  });

  it("failover: the next endpoint's sent_at is its own sending time, not the first attempt's", async () => {
    let answeredAt = 0;
    const a = await sink(async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      answeredAt = Date.now();
      return { status: 503 };
    });
    const b = await sink();
    const h = harness({ endpoints: [homing(a, 'a'), homing(b, 'b')], batchSize: 5, intervalMs: 60_000 });
    track(h, makeRecords(5));
    await until(() => b.acceptedUuids.length === 5, 5_000, 'the batch at b');
    const sentAt = Date.parse((JSON.parse(b.requests[0]!.text) as { sent_at: string }).sent_at);
    // Stamped before a was tried, it was ~400 ms older than the request that carried it.
    expect(sentAt).toBeGreaterThanOrEqual(answeredAt - 5);
    expect(sentAt).toBeLessThanOrEqual(b.requests[0]!.atMs + 5);
  });

  it('several workers: a batch released by a failed attempt is not sent again by a worker that claimed after it', async () => {
    let attempts = 0;
    const memory = createMemoryOutbox();
    const outbox = Object.assign(Object.create(memory) as typeof memory, {
      claim: async (maxEvents: number, maxBytes: number) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return memory.claim(maxEvents, maxBytes);
      },
    });
    const platform = testPlatform({
      fetch: () => {
        attempts++;
        return Promise.reject(new TypeError('fetch failed'));
      },
    });
    const h = startDelivery(
      {
        endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' }],
        batchSize: 10,
        intervalMs: 60_000,
        concurrency: 4,
        retry: { initialMs: 60_000, factor: 2, maxMs: 60_000 },
      },
      { platform, outbox },
    );
    cleanups.push(() => h.delivery.shutdown(0));
    // One batch: the first worker claims it, its attempt fails at once and releases it while
    // the other workers' claims wait their turn (a slow outbox: a file or IndexedDB).
    track(h, makeRecords(10));
    await until(() => h.delivery.stats().failedAttempts > 0, 5_000, 'the failed attempt');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(attempts).toBe(1);
    expect((await h.outbox.size()).events).toBe(10);
  });

  it('failover: a batch refused for good by every endpoint is dead-lettered; by one only, it goes to the other', async () => {
    const a = await sink(() => ({ status: 401 }));
    const b = await sink(() => ({ status: 403 }));
    const h = harness({ endpoints: [homing(a, 'a'), homing(b, 'b')], intervalMs: 60_000 });
    h.outbox.append(makeRecords(2));
    await h.delivery.flush(5_000);
    const dead = await h.outbox.listDeadLetters();
    expect(dead).toHaveLength(2);
    expect(dead[0]!.reason).toContain('a: HTTP 401');
    expect(dead[0]!.reason).toContain('b: HTTP 403');
    b.handler = () => ({ status: 202 });
    await h.outbox.replayDeadLetters();
    await h.delivery.flush(5_000);
    expect(b.acceptedUuids).toHaveLength(2);
  });

  it('fanout: every endpoint gets the batch; it is acked once any accepts', async () => {
    const a = await sink();
    const b = await sink(() => ({ status: 500 }));
    const h = harness({ endpoints: [homing(a, 'a'), homing(b, 'b')], mode: 'fanout', intervalMs: 60_000 });
    const records = makeRecords(3);
    h.outbox.append(records);
    const result = await h.delivery.flush(5_000);
    expect(result).toMatchObject({ sent: 3, pending: 0 });
    expect(a.acceptedUuids).toEqual(records.map((r) => r.uuid));
    expect(b.requests[0]!.uuids).toEqual(records.map((r) => r.uuid));
  });

  it('a flush that only dead-lettered stores that before it resolves (a process killed then would send or dead-letter them again)', async () => {
    const s = await sink(() => ({ status: 400, body: '{"error":"bad"}' }));
    const outbox = createMemoryOutbox();
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000 }, { outbox });
    outbox.append(makeRecords(5));
    let persisted = 0;
    const persist = outbox.persist.bind(outbox);
    outbox.persist = async () => {
      persisted++;
      return persist();
    };
    expect(await h.delivery.flush(5_000)).toMatchObject({ sent: 0, pending: 0 });
    expect(h.delivery.stats().deadLettered).toBe(5);
    expect(persisted).toBe(1);
    // Nothing settled, nothing to store.
    expect(await h.delivery.flush(5_000)).toMatchObject({ sent: 0, pending: 0 });
    expect(persisted).toBe(1);
  });

  it("'sent' names each endpoint with what it stored, and none that stored nothing", async () => {
    // A takes the requests (202) but refuses every event in them; B stores some.
    const refuseAll: SinkHandler = (req) => ({
      status: 202,
      body: JSON.stringify({ accepted: 0, rejected: req.uuids.map((_, index) => ({ index, error: 'bad' })) }),
    });
    const a = await sink(refuseAll);
    const b = await sink((req) => ({
      status: 202,
      body: JSON.stringify({ accepted: req.uuids.length - 1, rejected: [{ index: 0, error: 'bad' }] }),
    }));
    const h = harness({ endpoints: [homing(a, 'a'), homing(b, 'b')], mode: 'fanout', intervalMs: 60_000 });
    h.outbox.append(makeRecords(3));
    // The event both refused is a dead letter; B's 2 are sent.
    expect(await h.delivery.flush(5_000)).toMatchObject({ sent: 2, pending: 0 });
    expect(h.events.of('sent')).toEqual([{ endpoint: 'b', count: 2 }]);

    // Failover to one endpoint that refuses all in its 202: dead letters, and no 'sent'.
    const c = await sink(refuseAll);
    const f = harness({ endpoints: [homing(c, 'c')], intervalMs: 60_000 });
    f.outbox.append(makeRecords(3));
    expect(await f.delivery.flush(5_000)).toMatchObject({ sent: 0, pending: 0 });
    expect(f.events.of('sent')).toEqual([]);
    expect(f.events.of('dead-letter').reduce((n, e) => n + e.count, 0)).toBe(3);
  });
});

describe('Delivery: concurrency, pause, shutdown', () => {
  it('shutdown lets a request already sent to an endpoint that answers finish within its budget, not cut it', async () => {
    // The sink takes each request and answers 300 ms later: cut before that, the events would
    // be stored there and released here, and the next holder of the outbox would send them again.
    const s = await sink(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return { status: 202 };
    });
    const h = harness({ endpoints: [homing(s)], batchSize: 3, intervalMs: 60_000 });
    track(h, makeRecords(3));
    await until(() => s.acceptedUuids.length === 3, 5_000, 'the first batch');
    const late = makeRecords(3);
    const persist = h.outbox.persist.bind(h.outbox);
    let appended = false;
    // The flush's last step stores its acks; meanwhile another batch fills (another process's
    // events, in a shared outbox) and a background drain sends it.
    h.outbox.persist = async () => {
      if (!appended) {
        appended = true;
        track(h, late);
        await until(() => s.requests.length === 2, 5_000, 'the late batch in flight');
      }
      return persist();
    };
    track(h, makeRecords(3));
    await h.delivery.shutdown(5_000);
    expect((await h.outbox.size()).events).toBe(0);
    expect(h.delivery.stats().sent).toBe(9);
  });

  it('shutdown(0) starts no request: one it would cut at once may already have reached the server, which gets it again from the next sender', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    const options = { endpoints: [homing(s)], batchSize: 10, intervalMs: 60_000, gzip: false };
    const h = startDelivery(options, { outbox });
    // One full batch first: the connection is open, so a request would be on the wire at once.
    outbox.append(makeRecords(10));
    h.delivery.notify(10);
    await until(() => h.delivery.stats().sent === 10, 5_000, 'the first batch');
    outbox.append(makeRecords(5));
    await h.delivery.shutdown(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.requests).toHaveLength(1);
    expect((await outbox.size()).events).toBe(5);
    // With a budget, shutdown sends what is pending first.
    const next = startDelivery(options, { outbox });
    await next.delivery.shutdown(2_000);
    expect(s.acceptedUuids).toHaveLength(15);
  });

  /**
   * Batches of 10, four workers, retries after 100 ms (the least delivery waits) however many
   * attempts failed, and a breaker that does not open.
   */
  const fourWorkers = (s: Sink) => ({
    endpoints: [homing(s)],
    batchSize: 10,
    concurrency: 4,
    intervalMs: 60_000,
    retry: { initialMs: 1, maxMs: 1 },
    breaker: { threshold: 1_000 },
  });

  it('sends one batch at a time until a first one has gone through, then `concurrency` at once', async () => {
    let inFlight = 0;
    const peaks: number[] = [];
    let status = 401;
    // While set, answers wait until four requests are in flight at once (or 5 s pass).
    let gate: { promise: Promise<void>; open: () => void } | undefined;
    const s = await sink(async () => {
      peaks.push(++inFlight);
      if (inFlight === 4) gate?.open();
      await gate?.promise;
      // Long enough for every worker of the drain to have claimed and sent meanwhile.
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return { status };
    });
    const outbox = createMemoryOutbox();
    const h = harness(fourWorkers(s), { outbox, keepRefused: () => true });
    // A wrong key (401, kept as `homing flush` keeps it): one request at a time, never four.
    outbox.append(makeRecords(80));
    await h.delivery.flush(300);
    expect(peaks[0]).toBe(1);
    expect(Math.max(...peaks)).toBe(1);
    expect((await outbox.size()).events).toBe(80);

    // Answered: the first batch alone, then the other workers join it.
    status = 202;
    peaks.length = 0;
    await h.delivery.flush(5_000);
    expect(peaks[0]).toBe(1);
    expect(Math.max(...peaks)).toBe(4);
    expect((await outbox.size()).events).toBe(0);

    // Gone through last time: the next drain starts with all of its workers.
    peaks.length = 0;
    let open!: () => void;
    gate = { promise: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
    const giveUp = setTimeout(open, 5_000);
    outbox.append(makeRecords(40));
    await h.delivery.flush(10_000);
    clearTimeout(giveUp);
    gate = undefined;
    expect(peaks.slice(0, 4)).toEqual([1, 2, 3, 4]);
  });

  it('a batch that keeps failing does not hold the others behind it', async () => {
    const poison = makeRecords(1)[0]!;
    const s = await sink(async (req) => {
      await new Promise((r) => setTimeout(r, 20));
      return { status: req.uuids.includes(poison.uuid) ? 500 : 202 };
    });
    const outbox = createMemoryOutbox();
    const h = harness(fourWorkers(s), { outbox });
    // Gone through once; then the failing batch comes first, the others behind it.
    outbox.append(makeRecords(10));
    await h.delivery.flush(5_000);
    const good = makeRecords(200);
    outbox.append([poison, ...good]);
    await h.delivery.flush(10_000);
    // Only the failing event is left, queued or (found by `PoisonIsolation`) in the dead letters:
    // the 9 events first claimed with it went too.
    const accepted = new Set(s.acceptedUuids);
    expect(good.filter((r) => !accepted.has(r.uuid))).toEqual([]);
    await h.delivery.shutdown(0);
    const dead = (await outbox.listDeadLetters()).map((d) => d.record.uuid);
    const queued = (await outbox.claim(100, 1e9))?.records.map((r) => r.uuid) ?? [];
    expect([...queued, ...dead]).toEqual([poison.uuid]);
  });

  it('a Retry-After holds though batches sent before it was answered are accepted after it', async () => {
    const answered: Array<{ status: number; atMs: number }> = [];
    let wave = false;
    const s = await sink(async () => {
      const first = wave && answered.length === 1;
      if (wave && !first) await new Promise((r) => setTimeout(r, 150));
      const status = first ? 429 : 202;
      answered.push({ status, atMs: Date.now() });
      return first ? { status, headers: { 'retry-after': '1' } } : { status };
    });
    const outbox = createMemoryOutbox();
    const h = harness(fourWorkers(s), { outbox });
    outbox.append(makeRecords(10));
    await h.delivery.flush(5_000);
    wave = true;
    // Four batches at once: the first answered 429 at once, the three others accepted 150 ms later.
    outbox.append(makeRecords(80));
    await h.delivery.flush(10_000);
    expect((await outbox.size()).events).toBe(0);
    const limited = answered.find((a) => a.status === 429)!;
    const late = answered.filter((a) => a.atMs > limited.atMs);
    // The three accepted after the 429 were in flight; every request after them waited it out.
    const afterWait = late.slice(3);
    expect(afterWait.length).toBeGreaterThan(0);
    for (const a of afterWait) expect(a.atMs - limited.atMs).toBeGreaterThanOrEqual(950);
  });

  it('never has two requests in flight for the same records, over many batches with failures', async () => {
    const inFlight = new Set<string>();
    let overlap = 0;
    let n = 0;
    const s = await sink(async (req) => {
      for (const u of req.uuids) {
        if (inFlight.has(u)) overlap++;
        inFlight.add(u);
      }
      await new Promise((r) => setTimeout(r, (n * 7) % 13));
      for (const u of req.uuids) inFlight.delete(u);
      const reply: SinkReply = ++n % 4 === 0 ? { status: 503 } : ++n % 7 === 0 ? 'reset' : { status: 202 };
      return reply;
    });
    const h = harness({
      endpoints: [homing(s)],
      batchSize: 7,
      concurrency: 4,
      retry: { initialMs: 5, maxMs: 20 },
      breaker: { threshold: 1_000 },
      intervalMs: 10,
    });
    const records = makeRecords(300);
    for (let i = 0; i < 300; i += 30) track(h, records.slice(i, i + 30));
    await until(async () => (await h.outbox.size()).events === 0, 20_000, 'every event delivered');
    expect(overlap).toBe(0);
    expect(new Set(s.acceptedUuids)).toEqual(new Set(records.map((r) => r.uuid)));
  });

  it('holds everything while paused (consent pending) and sends on resume', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], batchSize: 2, intervalMs: 20 });
    h.delivery.setPaused(true);
    track(h, makeRecords(5));
    expect(await h.delivery.flush(200)).toEqual({ sent: 0, pending: 5, timedOut: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(s.requests).toHaveLength(0);
    expect(h.delivery.stats().paused).toBe(true);
    h.delivery.setPaused(false);
    await until(() => s.acceptedUuids.length === 5, 5_000, 'sends after resume');
  });

  it('pauses while offline and resumes on the online event', async () => {
    const s = await sink();
    let online = false;
    const listeners = new Set<(o: boolean) => void>();
    const platform = testPlatform({
      isOnline: () => online,
      onOnlineChange: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    });
    const h = harness({ endpoints: [homing(s)], intervalMs: 20 }, { platform });
    track(h, makeRecords(3));
    await new Promise((r) => setTimeout(r, 100));
    expect(s.requests).toHaveLength(0);
    online = true;
    for (const l of listeners) l(true);
    await until(() => s.acceptedUuids.length === 3, 5_000, 'sends once online');
  });

  it('asks the platform before it sends: offline there holds the events though no change was reported yet', async () => {
    const s = await sink();
    let online = true;
    // A worker's platform learns of a change from a poll, up to a second late.
    const platform = testPlatform({ isOnline: () => online, onOnlineChange: () => () => {} });
    const h = harness({ endpoints: [homing(s)], intervalMs: 20 }, { platform });
    online = false;
    track(h, makeRecords(3));
    expect(await h.delivery.flush(200)).toMatchObject({ sent: 0, pending: 3 });
    expect(s.requests).toHaveLength(0);
    expect(h.delivery.stats().online).toBe(false);
  });

  it('shutdown aborts a hanging request, releases its records, clears its timers and listeners', async () => {
    const s = await sink(() => 'hang');
    const platform = testPlatform();
    let exitHooks = 0;
    const onExit = platform.onExit;
    platform.onExit = (l) => {
      exitHooks++;
      const off = onExit(l);
      return () => {
        exitHooks--;
        off();
      };
    };
    const h = startDelivery(
      { endpoints: [homing(s)], intervalMs: 10, requestTimeoutMs: 60_000 },
      { platform },
    );
    h.outbox.append(makeRecords(4));
    await until(() => s.requests.length === 1, 5_000, 'the hanging request');
    expect(exitHooks).toBe(1);
    await h.delivery.shutdown(50);
    expect(exitHooks).toBe(0);
    expect((await h.outbox.size()).events).toBe(4);
    const batch = await h.outbox.claim(10, Infinity);
    expect(batch?.records).toHaveLength(4);
    await h.outbox.release(batch!);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.requests).toHaveLength(1);
  });

  it('one delivery loop per outbox: a second start throws until the first is shut down', async () => {
    const s = await sink();
    const outbox = createMemoryOutbox();
    const first = startDelivery({ endpoints: [homing(s)] }, { outbox });
    const second = startDelivery({ endpoints: [homing(s)] }, { outbox, start: false });
    expect(() => second.delivery.start()).toThrow(DeliveryBusyError);
    await first.delivery.shutdown(0);
    second.delivery.start();
    await second.delivery.shutdown(0);
  });

  it('Node exit hook: flushes what is pending within exitFlushTimeoutMs, once per burst of events', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)], intervalMs: 60_000, exitFlushTimeoutMs: 5_000 });
    track(h, makeRecords(3));
    await h.platform.exit();
    expect(s.acceptedUuids).toHaveLength(3);
    await h.platform.exit();
    expect(s.requests).toHaveLength(1);
  });

  it('flush and shutdown refuse a bad timeout with a typed error', async () => {
    const s = await sink();
    const h = harness({ endpoints: [homing(s)] });
    await expect(h.delivery.flush(-1)).rejects.toBeInstanceOf(DeliveryOptionError);
    await expect(h.delivery.flush(Number.NaN)).rejects.toMatchObject({ option: 'timeoutMs' });
    expect(() => h.delivery.shutdown('soon' as never)).toThrow(DeliveryOptionError);
  });

  it('the constructor refuses what is not an outbox or resolved options', () => {
    const platform = testPlatform();
    const deps = { platform, logger: silentLogger, emit: () => {} };
    const options = resolveDeliveryOptions({
      endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:1', key: 'k' }],
    });
    expect(() => new Delivery({} as never, options, deps)).toThrow(DeliveryOptionError);
    expect(() => new Delivery(createMemoryOutbox(), { endpoints: 'x' } as never, deps)).toThrow(
      DeliveryOptionError,
    );
  });
});
