import { Buffer } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_SCRATCH_BYTES, SYNC_GZIP_MAX_BYTES, createNodeGzip } from './gzipNode.js';
import { type JsonParts, bodyText } from './jsonParts.js';

const body = (events: number, text: string) =>
  JSON.stringify({ batch: Array.from({ length: events }, (_, i) => ({ i, text, r: Math.random() })) });

describe('createNodeGzip', () => {
  it('gives back exactly each body, however many share the reused input buffers at once', async () => {
    const gzip = createNodeGzip();
    // Bodies on the spot and on the thread pool, ASCII and not, long before short (a reused
    // buffer must not leak the tail of a longer body into a shorter one).
    const bodies = [
      body(3_000, 'ascii only'),
      body(10, 'é€😀'),
      body(4_000, 'zürich € 😀'),
      '',
      body(1, 'x'),
      '\u0000\uFFFD\uD83D\uDE00',
    ];
    expect(Buffer.byteLength(bodies[0]!)).toBeGreaterThan(SYNC_GZIP_MAX_BYTES);
    expect(Buffer.byteLength(bodies[1]!)).toBeLessThanOrEqual(SYNC_GZIP_MAX_BYTES);
    for (let round = 0; round < 3; round++) {
      const outputs = await Promise.all(bodies.map((b) => gzip(b)));
      outputs.forEach((out, i) => expect(gunzipSync(out).toString('utf8')).toBe(bodies[i]));
      for (const b of bodies) expect(gunzipSync(await gzip(b)).toString('utf8')).toBe(b);
    }
  });

  it('compresses a body larger than the input buffer too, and a short one with many multi-byte characters', async () => {
    const gzip = createNodeGzip();
    const huge = body(20_000, 'a longer text that makes this body well over a mebibyte');
    expect(Buffer.byteLength(huge)).toBeGreaterThan(GZIP_SCRATCH_BYTES);
    // Fewer UTF-16 units than the buffer's bytes, more UTF-8 bytes than fit in it.
    const wide = '😀'.repeat(Math.floor(GZIP_SCRATCH_BYTES / 4) + 10);
    expect(wide.length).toBeLessThan(GZIP_SCRATCH_BYTES);
    expect(Buffer.byteLength(wide)).toBeGreaterThan(GZIP_SCRATCH_BYTES);
    for (const b of [huge, wide, body(5, 'after')]) {
      expect(gunzipSync(await gzip(b)).toString('utf8')).toBe(b);
    }
  });

  it('compresses a batch given as pieces to the same bytes as the joined text, on the spot and on the thread pool', async () => {
    const gzip = createNodeGzip();
    const items = (n: number, text: string) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ uuid: `u-${i}`, text, r: Math.random() }));
    const bodies: JsonParts[] = [
      { head: '{"batch":[', items: items(1, 'one'), tail: '],"sent_at":"2026-12-03T00:00:00.000Z"}' },
      { head: '{"batch":[', items: [], tail: ']}' },
      { head: '{"api_key":"k€y","batch":[', items: items(50, 'zürich 😀'), tail: ']}' },
      { head: '{"batch":[', items: items(3_000, 'ascii'), tail: ']}' },
      { head: '{"batch":[', items: items(12_000, 'ünïcödé over a mebibyte once joined'), tail: ']}' },
    ];
    expect(Buffer.byteLength(bodyText(bodies[3]!))).toBeGreaterThan(SYNC_GZIP_MAX_BYTES);
    expect(Buffer.byteLength(bodyText(bodies[4]!))).toBeGreaterThan(GZIP_SCRATCH_BYTES);
    const outputs = await Promise.all(bodies.map((b) => gzip(b)));
    outputs.forEach((out, i) => expect(gunzipSync(out).toString('utf8')).toBe(bodyText(bodies[i]!)));
    for (const b of bodies) expect(gunzipSync(await gzip(b)).toString('utf8')).toBe(bodyText(b));
  });
});
