import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

/**
 * The request headers the browser SDKs send to another origin, which a browser asks the server
 * about first (a preflight) and does not send unless each is allowed. Segment's analytics.js
 * numbers each resend (X-Retry-Count): refused, every resend failed and the message was lost.
 */
const SDK_HEADERS: Array<[sdk: string, path: string, headers: string[]]> = [
  ['posthog-js (uncompressed JSON)', '/e/', ['content-type']],
  ['posthog-js (flags)', '/flags/?v=2', ['content-type']],
  ['analytics.js (a message)', '/v1/t', ['authorization', 'content-type']],
  ['analytics.js (a message sent again)', '/v1/t', ['authorization', 'content-type', 'x-retry-count']],
  ['analytics.js (a batch sent again)', '/v1/b', ['authorization', 'content-type', 'x-retry-count']],
];

describe('CORS preflights for the headers browser SDKs send', () => {
  const cleanups: Array<() => Promise<void>> = [];
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer('sqlite', cleanups);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it.each(SDK_HEADERS)('%s: POST %s with %j is allowed', async (_sdk, path, headers) => {
    const res = await fetch(`${s.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://site.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': headers.join(','),
      },
    });
    expect(res.status).toBe(204);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(headers.filter((h) => !allowed.includes(h))).toEqual([]);
  });
});
