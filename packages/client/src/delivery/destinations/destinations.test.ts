import { HttpError } from '@homing/resilience';
import { afterEach, describe, expect, it } from 'vitest';
import type { HomingEvent } from '../../event.js';
import type { Harness } from '../delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, testPlatform } from '../delivery.test-helpers.js';
import { createNodeHttpPost } from '../../platform/nodeHttpPost.js';
import { isOwnRequest } from '../../platform/ownRequest.js';
import type { DeliveryOptionsInput } from '../deliveryOptions.js';
import { DestinationError } from '../errors.js';
import { exceptionEvent } from './exceptionEvent.test-helpers.js';
import { resolveDeliveryOptions } from '../deliveryOptions.js';
import { SegmentDestination, splitByBytes, toSegment } from './segment.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sink(): Promise<Sink> {
  const s = await Sink.start(() => ({ status: 200, body: '{"status":1}' }));
  cleanups.push(() => s.down());
  return s;
}

function harness(input: DeliveryOptionsInput): Harness {
  const h = startDelivery({ intervalMs: 60_000, ...input });
  cleanups.push(() => h.delivery.shutdown(0));
  return h;
}

describe('posthog destination', () => {
  it('POSTs { api_key, batch, sent_at } to /batch/ with the stored events as they are', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'posthog', host: `${s.url}/`, key: 'phc_abc' }] });
    const records = makeRecords(3);
    h.outbox.append(records);
    expect((await h.delivery.flush(5_000)).sent).toBe(3);
    const req = s.requests[0]!;
    expect(req.path).toBe('/batch/');
    expect(req.headers.authorization).toBeUndefined();
    const body = JSON.parse(req.text) as { api_key: string; batch: HomingEvent[]; sent_at: string };
    expect(body.api_key).toBe('phc_abc');
    expect(body.batch).toEqual(records.map((r) => JSON.parse(r.json)));
    for (const e of body.batch)
      expect(Object.keys(e).sort()).toEqual(['distinct_id', 'event', 'properties', 'timestamp', 'uuid']);
    expect(typeof body.sent_at).toBe('string');
  });

  it('leaves out of $set the traits redaction replaced whole ($set would overwrite the person with the text)', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'posthog', host: s.url, key: 'phc_abc' }] });
    const identify = {
      uuid: '01900000-0000-7000-8000-000000000002',
      event: '$identify',
      distinct_id: 'user-1',
      timestamp: new Date().toISOString(),
      properties: {
        $set: { name: 'Ann', email: '[REDACTED]', note: 'mail me at [REDACTED]' },
        $set_once: { email: '[REDACTED]' },
      },
    };
    h.outbox.append([{ uuid: identify.uuid, json: JSON.stringify(identify), timestampMs: Date.now() }]);
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    const body = JSON.parse(s.requests[0]!.text) as { batch: HomingEvent[] };
    expect(body.batch[0]!.properties.$set).toEqual({ name: 'Ann', note: 'mail me at [REDACTED]' });
    expect(body.batch[0]!.properties.$set_once).toEqual({});
    expect(
      toSegment({ ...identify, properties: { $set: { name: 'Ann', email: '[REDACTED]' } } }),
    ).toMatchObject({ type: 'identify', traits: { name: 'Ann' } });
    expect(
      (toSegment({ ...identify, properties: { $set: { email: '[REDACTED]' } } }) as { traits: object })
        .traits,
    ).toEqual({});
  });

  it('leaves out the identify traits replaced by a hash (redaction.hashKey) or holding a replaced value, to PostHog and Segment', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'posthog', host: s.url, key: 'phc_abc' }] });
    const hashed = '[HASH:dc91501b93bc2eaa]';
    const set = {
      name: 'Ann',
      email: hashed,
      contact: { phone: '[REDACTED]', city: 'Oslo' },
      emails: ['ann@work', hashed],
      note: 'id [HASH:dc91501b93bc2eaa] kept',
      plan: { tier: 'pro' },
    };
    const identify: HomingEvent = {
      uuid: '0192a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c',
      event: '$identify',
      distinct_id: 'user-1',
      timestamp: new Date().toISOString(),
      properties: { $set: set },
    };
    h.outbox.append([{ uuid: identify.uuid, json: JSON.stringify(identify), timestampMs: Date.now() }]);
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    const body = JSON.parse(s.requests[0]!.text) as { batch: HomingEvent[] };
    const kept = { name: 'Ann', note: 'id [HASH:dc91501b93bc2eaa] kept', plan: { tier: 'pro' } };
    expect(body.batch[0]!.properties.$set).toEqual(kept);
    expect((toSegment({ ...identify, properties: { $set: set } }) as { traits: object }).traits).toEqual(
      kept,
    );
  });

  it('sends a $exception with its stacks in the shape PostHog error tracking reads', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'posthog', host: s.url, key: 'phc_abc' }] });
    const exception = exceptionEvent(
      [
        { file: '/app/inner.js', line: 2, column: 3, function: 'inner', inApp: true },
        { file: '/app/outer.js', line: 9, column: 1, function: 'outer', inApp: true },
      ],
      true,
    );
    h.outbox.append([{ uuid: exception.uuid, json: JSON.stringify(exception), timestampMs: Date.now() }]);
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    const body = JSON.parse(s.requests[0]!.text) as { batch: HomingEvent[] };
    const [entry] = body.batch[0]!.properties.$exception_list as Array<Record<string, unknown>>;
    expect(entry).toMatchObject({
      mechanism: { handled: true },
      stacktrace: {
        type: 'raw',
        frames: [
          {
            filename: '/app/outer.js',
            function: 'outer',
            lineno: 9,
            colno: 1,
            in_app: true,
            platform: 'node:javascript',
          },
          {
            filename: '/app/inner.js',
            function: 'inner',
            lineno: 2,
            colno: 3,
            in_app: true,
            platform: 'node:javascript',
          },
        ],
      },
    });
  });
});

describe('segment destination', () => {
  it('POSTs { batch, sentAt } to /v1/batch with Basic auth of "writeKey:", track and identify messages', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'seg_key' }] });
    const [tracked] = makeRecords(1, () => ({ plan: 'pro' }));
    const identify = {
      uuid: '01900000-0000-7000-8000-00000000abcd',
      event: '$identify',
      distinct_id: 'user-42',
      timestamp: '2026-01-01T00:00:00.000Z',
      properties: { $set: { email_domain: 'example.com' }, $anon_distinct_id: 'anon-1', $lib: 'homing' },
    };
    h.outbox.append([
      tracked!,
      { uuid: identify.uuid, json: JSON.stringify(identify), timestampMs: Date.now() },
    ]);
    expect((await h.delivery.flush(5_000)).sent).toBe(2);
    const req = s.requests[0]!;
    expect(req.path).toBe('/v1/batch');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('seg_key:').toString('base64')}`);
    const body = JSON.parse(req.text) as { batch: Array<Record<string, unknown>>; sentAt: string };
    expect(typeof body.sentAt).toBe('string');
    const t = JSON.parse(tracked!.json) as HomingEvent;
    expect(body.batch[0]).toEqual({
      type: 'track',
      event: 'test.event',
      userId: 'user-1',
      properties: { i: 0, plan: 'pro' },
      timestamp: t.timestamp,
      messageId: t.uuid,
      context: { library: { name: 'homing', version: '0.1.0' } },
    });
    expect(body.batch[1]).toEqual({
      type: 'identify',
      userId: 'user-42',
      anonymousId: 'anon-1',
      traits: { email_domain: 'example.com' },
      timestamp: identify.timestamp,
      messageId: identify.uuid,
      context: { library: { name: 'homing' } },
    });
  });

  it('uses anonymousId when the event says it is not identified; traits from plain properties without $set', () => {
    expect(
      toSegment({
        uuid: 'u',
        event: 'x',
        distinct_id: 'anon-9',
        timestamp: 't',
        properties: { $is_identified: false },
      }),
    ).toMatchObject({ type: 'track', anonymousId: 'anon-9' });
    expect(
      toSegment({
        uuid: 'u',
        event: '$identify',
        distinct_id: 'me',
        timestamp: 't',
        properties: { name: 'A', $x: 1 },
      }),
    ).toMatchObject({ type: 'identify', traits: { name: 'A' } });
    expect(() => toSegment(null as never)).toThrow(TypeError);
  });

  it('keeps a trait or property named __proto__ as a trait, as the other destinations do', () => {
    // The record's JSON, parsed as the destination parses it: `__proto__` is an own key there.
    const mapped = (properties: string): string =>
      JSON.stringify(
        toSegment(
          JSON.parse(
            `{"uuid":"u","event":"$identify","distinct_id":"me","timestamp":"t","properties":${properties}}`,
          ) as HomingEvent,
        ),
      );
    const traits = '{"__proto__":{"admin":true},"name":"x"}';
    expect(mapped(`{"$set":${traits}}`)).toContain(`"traits":${traits}`);
    expect(mapped(`{"__proto__":{"admin":true},"$lib":"homing","name":"x"}`)).toContain(`"traits":${traits}`);
    expect(
      JSON.stringify(
        toSegment(
          JSON.parse(
            '{"uuid":"u","event":"t","distinct_id":"me","timestamp":"t","properties":{"__proto__":{"p":1},"a":1}}',
          ) as HomingEvent,
        ),
      ),
    ).toContain('"properties":{"__proto__":{"p":1},"a":1}');
  });

  it('dead-letters events Segment would refuse (over 32 KB, or not an event) and sends the rest', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }] });
    const good = makeRecords(2);
    const [big] = makeRecords(1, () => ({ blob: 'z'.repeat(40_000) }));
    const broken = { uuid: 'broken-1', json: '{"not":"an event"}', timestampMs: Date.now() };
    h.outbox.append([good[0]!, big!, broken, good[1]!]);
    expect((await h.delivery.flush(5_000)).sent).toBe(2);
    expect(s.requests[0]!.uuids).toEqual(good.map((r) => r.uuid));
    const dead = await h.outbox.listDeadLetters();
    expect(dead.map((d) => d.record.uuid).sort()).toEqual([big!.uuid, 'broken-1'].sort());
  });
});

describe('segment destination: request size', () => {
  it("keeps every request under Segment's 500 KB batch limit: a larger batch goes out as several, none refused", async () => {
    // Segment answers a larger batch request with a 400, which would dead-letter the whole batch.
    const s = await Sink.start((r) =>
      Buffer.byteLength(r.text) > 500_000 ? { status: 400, body: '{"error":"too large"}' } : { status: 200 },
    );
    cleanups.push(() => s.down());
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }], batchSize: 200 });
    const records = makeRecords(200, (i) => ({ blob: `${i}:${'x'.repeat(6_000)}` }));
    h.outbox.append(records);
    expect((await h.delivery.flush(10_000)).sent).toBe(200);
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    const sizes = s.requests.map((r) => Buffer.byteLength(r.text));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(500_000);
    const sent = s.requests.flatMap((r) => (JSON.parse(r.text) as { batch: { messageId: string }[] }).batch);
    expect(sent.map((m) => m.messageId).sort()).toEqual(records.map((r) => r.uuid).sort());
    expect(await h.outbox.listDeadLetters()).toEqual([]);
  });

  it('stamps each request of a split batch with its own sentAt, once the one before it was answered', async () => {
    const s = await Sink.start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      return { status: 200 };
    });
    cleanups.push(() => s.down());
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }], batchSize: 200 });
    h.outbox.append(makeRecords(200, (i) => ({ blob: `${i}:${'x'.repeat(6_000)}` })));
    expect((await h.delivery.flush(20_000)).sent).toBe(200);
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    for (const request of s.requests) {
      const sentAt = Date.parse((JSON.parse(request.text) as { sentAt: string }).sentAt);
      // One stamp for all of them: the second request's was 600+ ms older than its sending.
      expect(request.atMs - sentAt).toBeLessThan(500);
    }
  });

  it('dead-letters only the messages of a request Segment refuses for good; the other requests are acknowledged', async () => {
    // The request holding the poisoned message gets a 400; the others are taken.
    const s = await Sink.start((r) =>
      r.text.includes('"poison"') ? { status: 400, body: '{}' } : { status: 200 },
    );
    cleanups.push(() => s.down());
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }], batchSize: 200 });
    const records = makeRecords(200, (i) => ({
      blob: `${i}:${'x'.repeat(6_000)}`,
      ...(i === 100 ? { poison: 1 } : {}),
    }));
    h.outbox.append(records);
    const messageIds = (text: string): string[] =>
      (JSON.parse(text) as { batch: { messageId: string }[] }).batch.map((m) => m.messageId);
    const flushed = await h.delivery.flush(10_000);
    const refused = s.requests.filter((r) => r.text.includes('"poison"'));
    expect(refused).toHaveLength(1);
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    const refusedIds = messageIds(refused[0]!.text);
    expect(refusedIds).toContain(records[100]!.uuid);
    expect(refusedIds.length).toBeLessThan(200);
    const dead = await h.outbox.listDeadLetters();
    expect(dead.map((d) => d.record.uuid).sort()).toEqual([...refusedIds].sort());
    expect(dead[0]!.reason).toMatch(/refused the request that held it: .*400/);
    const taken = s.requests.filter((r) => r !== refused[0]).flatMap((r) => messageIds(r.text));
    expect(new Set([...taken, ...refusedIds]).size).toBe(200);
    expect(flushed.sent).toBe(200 - refusedIds.length);
    expect(flushed.pending).toBe(0);
    expect(h.delivery.stats().deadLettered).toBe(refusedIds.length);
  });

  it('dead-letters a refused request by the right records when events left out before it shift the indexes', async () => {
    const s = await Sink.start((r) =>
      r.text.includes('"poison"') ? { status: 400, body: '{}' } : { status: 200 },
    );
    cleanups.push(() => s.down());
    const h = harness({
      endpoints: [{ destination: 'segment', host: s.url, key: 'k' }],
      batchSize: 200,
      batchBytes: 4_000_000,
      concurrency: 1,
    });
    // Over 32 KB, and not an event: both left out of every request, before the poisoned one.
    const [big] = makeRecords(1, () => ({ blob: 'z'.repeat(40_000) }));
    const broken = { uuid: 'broken-2', json: '{"not":"an event"}', timestampMs: Date.now() };
    const records = makeRecords(150, (i) => ({
      blob: `${i}:${'x'.repeat(6_000)}`,
      ...(i === 120 ? { poison: 1 } : {}),
    }));
    h.outbox.append([big!, ...records.slice(0, 50), broken, ...records.slice(50)]);
    const flushed = await h.delivery.flush(10_000);
    const refused = s.requests.filter((r) => r.text.includes('"poison"'));
    expect(refused).toHaveLength(1);
    const refusedIds = (JSON.parse(refused[0]!.text) as { batch: { messageId: string }[] }).batch.map(
      (m) => m.messageId,
    );
    expect(refusedIds).toContain(records[120]!.uuid);
    const dead = await h.outbox.listDeadLetters();
    const reasonOf = new Map(dead.map((d) => [d.record.uuid, d.reason]));
    expect([...reasonOf.keys()].sort()).toEqual([big!.uuid, 'broken-2', ...refusedIds].sort());
    expect(reasonOf.get(big!.uuid)).toMatch(/32768 byte limit/);
    expect(reasonOf.get('broken-2')).toMatch(/not a valid event/);
    for (const id of refusedIds) expect(reasonOf.get(id)).toMatch(/refused the request that held it/);
    expect(flushed.sent).toBe(150 - refusedIds.length);
  });

  it('fails the batch as Segment did when every request is refused: all of it dead-lettered', async () => {
    const s = await Sink.start(() => ({ status: 401, body: '{"error":"bad key"}' }));
    cleanups.push(() => s.down());
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }], batchSize: 200 });
    const records = makeRecords(200, (i) => ({ blob: `${i}:${'x'.repeat(6_000)}` }));
    h.outbox.append(records);
    const flushed = await h.delivery.flush(10_000);
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    const dead = await h.outbox.listDeadLetters();
    expect(dead).toHaveLength(200);
    expect(flushed.sent).toBe(0);
    expect(dead.every((d) => /401/.test(d.reason) && !/held it/.test(d.reason))).toBe(true);
  });

  it('fails the batch when a later request fails for a while, so the whole batch is sent again', async () => {
    const statuses: number[] = [];
    const s = await Sink.start(() => {
      statuses.push(statuses.length === 1 ? 503 : 200);
      return { status: statuses.at(-1)! };
    });
    cleanups.push(() => s.down());
    const [endpoint] = resolveDeliveryOptions({
      endpoints: [{ destination: 'segment', host: s.url, key: 'k' }],
    }).endpoints;
    const destination = new SegmentDestination(endpoint!);
    const records = makeRecords(200, (i) => ({ blob: `${i}:${'x'.repeat(6_000)}` }));
    const context = () => ({
      signal: new AbortController().signal,
      platform: testPlatform(),
      gzipMinBytes: null,
      sentAt: new Date().toISOString(),
    });
    const failed = await destination.send(records, context());
    expect(failed).toMatchObject({ kind: 'failed', failure: 'retryable', status: 503 });
    // The first request was taken, the second failed, the rest were not sent.
    expect(statuses).toEqual([200, 503]);
    const again = await destination.send(records, context());
    expect(again).toEqual({ kind: 'accepted', rejected: [] });
    const ids = s.requests
      .filter((_r, i) => statuses[i] === 200)
      .flatMap((r) =>
        (JSON.parse(r.text) as { batch: { messageId: string }[] }).batch.map((m) => m.messageId),
      );
    // Every event taken; the first request's twice (Segment drops the second copy by messageId).
    expect(new Set(ids).size).toBe(200);
    expect(ids.length).toBe(200 + (JSON.parse(s.requests[0]!.text) as { batch: unknown[] }).batch.length);
  });

  it('counts an event against the 32 KB limit in UTF-8 bytes, not characters', async () => {
    const s = await sink();
    const h = harness({ endpoints: [{ destination: 'segment', host: s.url, key: 'k' }] });
    // 20 000 characters, 40 000 bytes: Segment would refuse it, and the batch with it.
    const [wide] = makeRecords(1, () => ({ text: 'é'.repeat(20_000) }));
    const [plain] = makeRecords(1);
    h.outbox.append([wide!, plain!]);
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    expect((await h.outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual([wide!.uuid]);
  });

  it('splits messages into runs of at most the byte limit, in order, a message larger than it alone', () => {
    const parts = splitByBytes(['aaaa', 'bb', 'cccccccc', 'é', 'd'], 8);
    expect(parts).toEqual([['aaaa', 'bb'], ['cccccccc'], ['é', 'd']]);
    expect(splitByBytes([], 8)).toEqual([]);
  });
});

describe('custom destination', () => {
  it('receives the parsed events and the endpoint id; resolving acks them', async () => {
    const seen: HomingEvent[][] = [];
    const h = harness({
      endpoints: [
        {
          destination: 'custom',
          name: 'mine',
          send: async (events, ctx) => {
            expect(ctx.endpoint).toBe('mine');
            expect(ctx.signal).toBeInstanceOf(AbortSignal);
            seen.push(events);
          },
        },
      ],
    });
    const records = makeRecords(3);
    h.outbox.append(records);
    expect((await h.delivery.flush(5_000)).sent).toBe(3);
    expect(seen).toEqual([records.map((r) => JSON.parse(r.json))]);
  });

  it('a permanent DestinationError dead-letters; any other error is retried, never lost', async () => {
    let mode: 'permanent' | 'bug' | 'ok' = 'bug';
    const h = harness({
      retry: { initialMs: 0 },
      breaker: { threshold: 1_000 },
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            if (mode === 'bug') throw new Error('oops');
            if (mode === 'permanent') throw new DestinationError('schema rejected', { permanent: true });
          },
        },
      ],
    });
    const [a] = makeRecords(1);
    h.outbox.append([a!]);
    await h.delivery.flush(50);
    expect((await h.outbox.size()).events).toBe(1);
    expect(h.delivery.stats().lastError?.reason).toContain('oops');
    mode = 'permanent';
    await h.delivery.flush(5_000);
    const dead = await h.outbox.listDeadLetters();
    expect(dead.map((d) => [d.record.uuid, d.reason])).toEqual([[a!.uuid, 'custom:0: schema rejected']]);
  });

  it('a retryable DestinationError waits its retryAfterMs; an HttpError is classified by status', async () => {
    let calls = 0;
    const times: number[] = [];
    const h = harness({
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            times.push(Date.now());
            calls++;
            if (calls === 1) throw new DestinationError('busy', { retryAfterMs: 300 });
            if (calls === 2) throw new HttpError(400, { kind: 'permanent', reason: '400 Bad Request' });
          },
        },
      ],
    });
    h.outbox.append(makeRecords(1));
    await h.delivery.flush(5_000);
    expect(calls).toBe(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(300 - 2);
    expect((await h.outbox.listDeadLetters())[0]!.reason).toContain('400');
  });

  it.each([
    ['no status (an app error wrapping a network failure)', {}],
    ['a 2xx status', { status: 200 }],
    ['a status that is no HTTP status', { status: 'timeout' }],
    ['a status readable only by a getter that throws', { status: 'throws' }],
  ])(
    "an error that merely says kind 'http', with %s, is retried, not dead-lettered",
    async (_what, extra) => {
      let calls = 0;
      const h = harness({
        retry: { initialMs: 10, maxMs: 20 },
        endpoints: [
          {
            destination: 'custom',
            send: async () => {
              if (++calls > 1) return;
              const error = Object.assign(new Error('socket closed by peer'), {
                kind: 'http',
                code: 'ERR_SOCKET_CLOSED_BY_PEER',
              });
              if ('status' in extra && extra.status === 'throws') {
                Object.defineProperty(error, 'status', {
                  get() {
                    throw new Error('unreadable');
                  },
                });
              } else Object.assign(error, extra);
              throw error;
            },
          },
        ],
      });
      h.outbox.append(makeRecords(2));
      expect((await h.delivery.flush(5_000)).sent).toBe(2);
      expect(calls).toBe(2);
      expect(await h.outbox.listDeadLetters()).toEqual([]);
    },
  );

  it("an error of kind 'http' with a 4xx status is classified by it, as an HttpError is", async () => {
    const h = harness({
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            throw Object.assign(new Error('not found'), { kind: 'http', status: 404 });
          },
        },
      ],
    });
    h.outbox.append(makeRecords(1));
    await h.delivery.flush(5_000);
    expect((await h.outbox.listDeadLetters())[0]!.reason).toContain('404');
  });

  it('a send that ignores the abort signal still times out and is retried', async () => {
    let calls = 0;
    const h = harness({
      requestTimeoutMs: 100,
      retry: { initialMs: 0 },
      endpoints: [
        {
          destination: 'custom',
          send: () => (++calls === 1 ? new Promise<void>(() => {}) : Promise.resolve()),
        },
      ],
    });
    h.outbox.append(makeRecords(2));
    expect((await h.delivery.flush(5_000)).sent).toBe(2);
    expect(calls).toBe(2);
  });
});

describe('the request itself', () => {
  it.each(['homing', 'posthog', 'segment'] as const)(
    'a 409 from %s is retried, not dead-lettered nor taken as stored',
    async (destination) => {
      let calls = 0;
      const s = await Sink.start(() =>
        ++calls === 1 ? { status: 409, body: 'conflict' } : { status: 200, body: '{}' },
      );
      cleanups.push(() => s.down());
      const h = harness({
        endpoints: [{ destination, host: s.url, key: 'k' }],
        retry: { initialMs: 10, maxMs: 20 },
      });
      h.outbox.append(makeRecords(2));
      expect((await h.delivery.flush(5_000)).sent).toBe(2);
      expect(calls).toBe(2);
      expect(await h.outbox.listDeadLetters()).toEqual([]);
    },
  );

  it.each([
    ['fetch', undefined],
    ['node:http', createNodeHttpPost()],
  ] as const)(
    'a 304 to the POST (through %s) is no success: dead-lettered, where it can be replayed, not counted as sent',
    async (_via, post) => {
      const s = await Sink.start(() => ({ status: 304 }));
      cleanups.push(() => s.down());
      const h = startDelivery(
        { intervalMs: 60_000, endpoints: [{ destination: 'posthog', host: s.url, key: 'k' }] },
        { platform: testPlatform(post === undefined ? {} : { post }) },
      );
      cleanups.push(() => h.delivery.shutdown(0));
      const records = makeRecords(3);
      h.outbox.append(records);
      expect((await h.delivery.flush(5_000)).sent).toBe(0);
      expect(h.delivery.stats().sent).toBe(0);
      const dead = await h.outbox.listDeadLetters();
      expect(dead.map((d) => d.record.uuid)).toEqual(records.map((r) => r.uuid));
      expect(dead[0]!.reason).toContain('304');
    },
  );

  it('a status without a name of its own is said once as HTTP: "HTTP 599", not "HTTP HTTP 599"', async () => {
    const s = await Sink.start(() => ({ status: 599, body: 'busy' }));
    cleanups.push(() => s.down());
    const h = startDelivery({
      intervalMs: 60_000,
      endpoints: [{ destination: 'homing', host: s.url, key: 'k' }],
    });
    cleanups.push(() => h.delivery.shutdown(0));
    h.outbox.append(makeRecords(1));
    await h.delivery.flush(300);
    expect(h.delivery.stats().lastError?.reason).toBe('HTTP 599: busy');
  });

  it('a custom destination throwing HttpError(409) is retried', async () => {
    let calls = 0;
    const h = harness({
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            if (++calls === 1) throw new HttpError(409, { kind: 'conflict', reason: '409 Conflict' });
          },
        },
      ],
      retry: { initialMs: 10, maxMs: 20 },
    });
    h.outbox.append(makeRecords(1));
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    expect(calls).toBe(2);
    expect(await h.outbox.listDeadLetters()).toEqual([]);
  });

  it('gzips a body over gzipMinBytes in UTF-8 bytes, however few characters it has', async () => {
    const s = await sink();
    const h = harness({
      endpoints: [{ destination: 'posthog', host: s.url, key: 'k' }],
      gzipMinBytes: 1_024,
    });
    // 300 characters of 日 are 900 bytes: with the envelope over 1 024 bytes, under 1 024 characters.
    h.outbox.append(makeRecords(1, () => ({ text: '日'.repeat(300) })));
    expect((await h.delivery.flush(5_000)).sent).toBe(1);
    const req = s.requests[0]!;
    expect(req.text.length).toBeLessThan(1_024);
    expect(Buffer.byteLength(req.text)).toBeGreaterThan(1_024);
    expect(req.gzipped).toBe(true);
  });

  it("goes out through the platform's own POST where it has one (Node's node:http), else fetch", async () => {
    const s = await sink();
    const viaFetch: string[] = [];
    const withPost = testPlatform({
      fetch: (url) => {
        viaFetch.push(String(url));
        return Promise.reject(new Error('fetch must not be used when the platform can POST'));
      },
      post: createNodeHttpPost(),
    });
    const h = startDelivery(
      { intervalMs: 60_000, gzipMinBytes: 10, endpoints: [{ destination: 'homing', host: s.url, key: 'k' }] },
      { platform: withPost },
    );
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(5);
    h.outbox.append(records);
    expect((await h.delivery.flush(5_000)).sent).toBe(5);
    expect(viaFetch).toEqual([]);
    expect(s.requests[0]!.headers['content-encoding']).toBe('gzip');
    expect(s.requests[0]!.uuids).toEqual(records.map((r) => r.uuid));

    const fetched: string[] = [];
    const withoutPost = testPlatform({
      fetch: (url, init) => {
        // Marked, so Homing's own fetch breadcrumbs and timings leave it out.
        if (isOwnRequest(init)) fetched.push(String(url));
        return fetch(url, init);
      },
    });
    const f = startDelivery(
      { intervalMs: 60_000, endpoints: [{ destination: 'homing', host: s.url, key: 'k' }] },
      { platform: withoutPost },
    );
    cleanups.push(() => f.delivery.shutdown(0));
    f.outbox.append(makeRecords(2));
    expect((await f.delivery.flush(5_000)).sent).toBe(2);
    expect(fetched).toEqual([`${s.url}/ingest`]);
  });
});

describe('an answer that quotes the key back', () => {
  it.each([
    ['homing', 'hw_echoedKeyAAAAAAAAAAAAAAAAAAAAAAAA', (key: string) => `invalid token Bearer ${key}`],
    ['posthog', 'phc_echoedKeyBBBBBBBBBBBBBBBBBBBB', (key: string) => `{"detail":"bad api_key ${key}"}`],
    [
      'segment',
      'segEchoedKeyCCCCCCCCCCCC',
      (key: string) => `bad auth Basic ${Buffer.from(`${key}:`).toString('base64')} (${key})`,
    ],
  ] as const)(
    '%s: the key is [key] in lastError and the dead letters, never the key',
    async (destination, key, page) => {
      const s = await Sink.start(() => ({ status: 401, body: page(key) }));
      cleanups.push(() => s.down());
      const h = harness({ endpoints: [{ destination, host: s.url, key }] });
      h.outbox.append(makeRecords(2));
      await h.delivery.flush(5_000);
      const reason = h.delivery.stats().lastError?.reason ?? '';
      expect(reason).toContain('HTTP 401');
      expect(reason).toContain('[key]');
      expect(reason).not.toContain(key);
      expect(reason).not.toContain(Buffer.from(`${key}:`).toString('base64'));
      const dead = await h.outbox.listDeadLetters();
      expect(dead.length).toBe(2);
      for (const d of dead) expect(d.reason).not.toContain(key);
    },
  );
});
