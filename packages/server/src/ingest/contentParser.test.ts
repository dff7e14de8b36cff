import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { NoopStore } from '../store/noop.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('the ingest body parser', () => {
  // Not media types: Fastify's own 415 FST_ERR_CTP_INVALID_MEDIA_TYPE refused them.
  const malformed = ['json', 'a b', '/', ';;;===', ''];
  const routes = [
    { url: '/ingest', status: 202 },
    { url: '/e/', status: 200 },
    { url: '/v1/batch', status: 200 },
  ];

  it('reads a body whose Content-Type is not a media type as one without any, on every ingest route', async () => {
    const store = new NoopStore();
    const app = buildServer({ store, logger: false });
    closers.push(() => app.close());
    const key = store.project.writeKey;
    const payload = JSON.stringify({
      api_key: key,
      writeKey: key,
      batch: [{ event: 'x', type: 'track', userId: 'u', distinct_id: 'u' }],
    });
    for (const { url, status } of routes) {
      for (const type of [...malformed, 'application/foo']) {
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${key}`, 'content-type': type },
          payload,
        });
        expect({ url, type, status: res.statusCode }).toEqual({ url, type, status });
      }
    }
  });
});
