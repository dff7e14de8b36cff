import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { resolveServerOptions, ServerOptionsError } from '../serverOptions.js';
import { NoopStore } from '../store/noop.js';
import { BodyBytesBudget, budgetSource } from './bodyBytesBudget.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function answer(
  req: ClientRequest,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
  });
}

/** A body of ~`bytes` bytes of JSON: one event with a long property. */
function bodyOf(bytes: number, key?: string): string {
  return JSON.stringify({
    ...(key === undefined ? {} : { api_key: key }),
    batch: [{ event: 'e', distinct_id: 'd', properties: { pad: 'x'.repeat(bytes - 120) } }],
  });
}

/** A no-op store that counts the events it was given. */
class CountingStore extends NoopStore {
  accepted = 0;
  override insertEvents(
    ...args: Parameters<NoopStore['insertEvents']>
  ): ReturnType<NoopStore['insertEvents']> {
    this.accepted += args[1].length;
    return super.insertEvents(...args);
  }
}

describe('the bytes all ingest bodies may hold at once (maxBodyBytesInFlight)', () => {
  it('refuses a body past the budget with 503 and Retry-After before decompressing more of it, and takes bodies again once it is free', async () => {
    const store = new CountingStore();
    const app = buildServer({
      logger: false,
      store,
      rateLimit: false,
      maxBodyBytes: 100_000,
      // A source may hold max(100 000, 400 000 / 8) = 100 000 of it.
      maxBodyBytesInFlight: 400_000,
      retryAfterSeconds: 2,
    });
    cleanups.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const post = (path: string, headers: Record<string, string> = {}) =>
      request({
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
      });

    // A body that stalls after 90 KB holds that much of the budget (and of its sender's share)
    // while it waits for the rest.
    const first = bodyOf(95_000);
    const stalled = post('/ingest', {
      authorization: 'Bearer hw_noop',
      'content-length': String(first.length),
    });
    const stalledAnswer = answer(stalled);
    stalled.write(first.slice(0, 90_000));
    await new Promise((r) => setTimeout(r, 200));

    // 90 KB more from the same sender, gzipped (a small upload that inflates): no room in its
    // share. PostHog's route, key in the body.
    const refused = post('/batch/', { 'content-encoding': 'gzip' });
    const refusedAnswer = answer(refused);
    refused.end(gzipSync(bodyOf(90_000, 'hw_noop')));
    const r = await refusedAnswer;
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('2');
    expect(r.body).toContain('as many request bodies as it takes at once');

    // Another sender is not refused for this one's bodies.
    const elsewhere = await app.inject({
      method: 'POST',
      url: '/ingest',
      remoteAddress: '203.0.113.9',
      headers: { authorization: 'Bearer hw_noop', 'content-type': 'application/json' },
      payload: bodyOf(90_000),
    });
    expect(elsewhere.statusCode).toBe(202);

    // A small one fits beside it.
    const small = post('/ingest', { authorization: 'Bearer hw_noop' });
    const smallAnswer = answer(small);
    small.end(bodyOf(1_000));
    expect((await smallAnswer).status).toBe(202);

    stalled.end(first.slice(90_000));
    expect((await stalledAnswer).status).toBe(202);
    // Given back: the refused body goes through now.
    const again = post('/batch/', { 'content-encoding': 'gzip' });
    const againAnswer = answer(again);
    again.end(gzipSync(bodyOf(90_000, 'hw_noop')));
    expect((await againAnswer).status).toBe(200);
    expect(store.accepted).toBe(4);
  });

  it('a body refused as too large or malformed gives its bytes back', async () => {
    const app = buildServer({
      logger: false,
      store: new NoopStore(),
      rateLimit: false,
      maxBodyBytes: 50_000,
      maxBodyBytesInFlight: 50_000,
    });
    cleanups.push(() => app.close());
    for (let i = 0; i < 5; i++) {
      const big = await app.inject({
        method: 'POST',
        url: '/ingest',
        headers: { authorization: 'Bearer hw_noop', 'content-type': 'application/json' },
        payload: gzipSync(bodyOf(60_000)),
      });
      expect(big.statusCode).toBe(413);
      const bad = await app.inject({
        method: 'POST',
        url: '/ingest',
        headers: { authorization: 'Bearer hw_noop', 'content-type': 'application/json' },
        payload: `${bodyOf(40_000)}}`,
      });
      expect(bad.statusCode).toBe(400);
    }
    const ok = await app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { authorization: 'Bearer hw_noop', 'content-type': 'application/json' },
      payload: bodyOf(45_000),
    });
    expect(ok.statusCode).toBe(202);
  });

  it('defaults to the larger of 64 MiB and 4 x maxBodyBytes, and refuses one below maxBodyBytes', () => {
    const store = new NoopStore();
    expect(resolveServerOptions({ store }).maxBodyBytesInFlight).toBe(64 * 1024 * 1024);
    expect(resolveServerOptions({ store, maxBodyBytes: 50 * 1024 * 1024 }).maxBodyBytesInFlight).toBe(
      200 * 1024 * 1024,
    );
    expect(() => resolveServerOptions({ store, maxBodyBytes: 1000, maxBodyBytesInFlight: 999 })).toThrow(
      ServerOptionsError,
    );
    expect(() => resolveServerOptions({ store, maxBodyBytesInFlight: 'lots' as unknown as number })).toThrow(
      /maxBodyBytesInFlight/,
    );
  });

  it('one source holds at most its share, so a sender stalling its bodies does not refuse everyone else', () => {
    const budget = new BodyBytesBudget(1_000, 300);
    expect(budget.take(300, 'a')).toBe(true);
    expect(budget.take(1, 'a')).toBe(false);
    expect(budget.take(300, 'b')).toBe(true);
    expect(budget.take(300, 'c')).toBe(true);
    expect(budget.take(200, 'd')).toBe(false); // the whole budget: 900 held, 200 more is over
    expect(budget.take(100, 'd')).toBe(true);
    budget.give(300, 'a');
    expect(budget.take(300, 'a')).toBe(true);
    expect(budget.inFlight).toBe(1_000);
  });

  it('counts an IPv6 sender by its /64 and an IPv4-mapped one as IPv4', () => {
    expect(budgetSource('203.0.113.7')).toBe('203.0.113.7');
    expect(budgetSource('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(budgetSource('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(budgetSource('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(budgetSource('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(budgetSource('::1')).toBe('0:0:0:0::/64');
  });

  it('counts the requests without an address (a closed connection, a Unix socket) as one source', () => {
    expect(budgetSource(undefined)).toBe(budgetSource(''));
    expect(budgetSource(undefined)).not.toBe(budgetSource('203.0.113.7'));
  });
});
