import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { NoopStore } from '../store/noop.js';
import type { IngestEvent, InsertOptions, InsertResult } from '../store/store.js';

/** A store whose insert waits (backpressure, a lock) until its caller's signal is aborted. */
class WaitingStore extends NoopStore {
  readonly calls: Array<{ signal: AbortSignal | undefined; aborted: Promise<void> }> = [];
  override insertEvents(
    _projectId: string,
    _events: readonly IngestEvent[],
    options?: InsertOptions,
  ): Promise<InsertResult> {
    const signal = options?.signal;
    let aborted!: () => void;
    const abortedPromise = new Promise<void>((resolve) => (aborted = resolve));
    this.calls.push({ signal, aborted: abortedPromise });
    return new Promise((_resolve, reject) => {
      signal?.addEventListener('abort', () => {
        aborted();
        reject(new Error('dropped'));
      });
    });
  }
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A client that gives up on a request still waiting for the store (its timeout, a closed tab):
 * the store is told, so a call not committed yet is dropped instead of written behind the back
 * of a sender who will send the same events again (and, with SQLite under backpressure, the
 * bodies of every abandoned request piled up in memory).
 */
describe('a client that goes away while its batch waits for the store', () => {
  for (const [url, body, headers] of [
    ['/ingest', [{ event: 'e', distinct_id: 'd' }], { authorization: 'Bearer hw_noop' }],
    ['/batch/', { api_key: 'hw_noop', batch: [{ event: 'e', distinct_id: 'd' }] }, {}],
    [
      '/v1/batch',
      { batch: [{ type: 'track', event: 'e', userId: 'd' }] },
      { authorization: `Basic ${Buffer.from('hw_noop:').toString('base64')}` },
    ],
  ] as const) {
    it(`${url}: the store's call is aborted`, async () => {
      const store = new WaitingStore();
      const app = buildServer({ logger: false, store, rateLimit: false });
      cleanups.push(() => app.close());
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      const req = request({
        host: '127.0.0.1',
        port,
        path: url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
      });
      req.on('error', () => {});
      req.end(JSON.stringify(body));
      while (store.calls.length === 0) await new Promise((r) => setTimeout(r, 10));
      const call = store.calls[0]!;
      expect(call.signal?.aborted).toBe(false);
      req.destroy();
      await call.aborted;
      expect(call.signal?.aborted).toBe(true);
    });
  }
});
