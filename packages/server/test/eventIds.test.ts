import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, post, STORE_KINDS, startServerOn, type Running } from './harness.js';

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

/** `n` distinct CJK characters (3 UTF-8 bytes each), which pglz does not shrink. */
const cjk = (n: number, seed = 1): string =>
  Array.from({ length: n }, (_, i) =>
    String.fromCharCode(0x4e00 + ((i * 7919 + seed * 104729) % 20000)),
  ).join('');

// The same on both stores: on PostgreSQL a 3000-byte id was over the btree index row limit (2704
// bytes) and failed the whole batch with 503 on every resend; SQLite took it.
describe.each(STORE_KINDS)('ids stored in an index are at most 2000 UTF-8 bytes (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('native: refuses by index a 1000-CJK-character distinct_id or event name, storing the rest', async () => {
    const tag = `idb-${kind}`;
    const r = await post(
      `${s.url}/ingest`,
      [
        { event: 'fine', distinct_id: `${tag}-good`, timestamp: Date.now() },
        { event: 'e', distinct_id: cjk(1000), timestamp: Date.now() },
        { event: cjk(1000, 2), distinct_id: `${tag}-n`, timestamp: Date.now() },
        { event: cjk(666, 3), distinct_id: cjk(666, 4), timestamp: Date.now() },
      ],
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({
      accepted: 2,
      rejected: [
        {
          index: 1,
          error: expect.stringMatching(/^distinct_id longer than 2000 bytes of UTF-8 \(it has 3000;/),
        },
        { index: 2, error: expect.stringMatching(/^event longer than 2000 bytes of UTF-8/) },
      ],
    });
    expect(await s.events({ distinctId: `${tag}-good` })).toHaveLength(1);
    expect(await s.events({ distinctId: cjk(666, 4) })).toHaveLength(1);
  });

  it('PostHog: refuses the event (400 when it is the only one), keeps a batch answered 200', async () => {
    const alone = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [{ event: 'e', distinct_id: cjk(1000, 5), properties: {} }],
    });
    expect(alone.status).toBe(400);
    expect(alone.text).toMatch(/longer than 2000 bytes of UTF-8/);
    const mixed = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [
        { event: 'e', properties: { distinct_id: cjk(1000, 6) } },
        { event: 'ph-good', distinct_id: `ph-${kind}`, properties: {} },
      ],
    });
    expect(mixed.status).toBe(200);
    expect(await s.events({ event: 'ph-good' })).toHaveLength(1);
  });

  it('Segment: refuses a long userId by message', async () => {
    const r = await post(
      `${s.url}/v1/batch`,
      { batch: [{ type: 'track', event: 'e', userId: cjk(1000, 7), messageId: `sg-${kind}` }] },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({
      success: false,
      message: expect.stringMatching(/^message 0: userId longer than 2000 bytes/),
    });
  });
});

// JSON.parse rounds 1234567890123456789 and 1234567890123456788 to the same number: stored as
// strings of that number, two people became one (an export answered one with the other's events).
// Such numbers now arrive as their digits (inexactNumbers.ts), so each person keeps their own id.
describe.each(STORE_KINDS)('numeric distinct ids past 2^53 keep their digits (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('native: two ids past 2^53 stay two people, each its digits; a fraction is refused by index', async () => {
    const ts = Date.now();
    const body = `[{"distinct_id":1234567890123456789,"event":"big","timestamp":${ts}},
      {"distinct_id":1234567890123456788,"event":"big","timestamp":${ts}},
      {"distinct_id":1.5,"event":"big","timestamp":${ts}},
      {"distinct_id":1152921504606847000,"event":"big","timestamp":${ts}},
      {"distinct_id":12345,"event":"small","timestamp":${ts}}]`;
    const r = await post(`${s.url}/ingest`, body, bearer(s.project.writeKey));
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({
      accepted: 4,
      rejected: [
        {
          index: 2,
          error: expect.stringMatching(
            /^distinct_id is a number that is not an integer .*: send it as a string$/,
          ),
        },
      ],
    });
    // 2^60 as a JavaScript sender writes it stays a number through JSON.parse: its text is its id.
    expect((await s.events({ event: 'big' })).map((e) => e.distinctId).sort()).toEqual([
      '1152921504606847000',
      '1234567890123456788',
      '1234567890123456789',
    ]);
    expect((await s.events({ event: 'small' })).map((e) => e.distinctId)).toEqual(['12345']);
  });

  it('PostHog: top level and in properties; Segment: userId and anonymousId, each as its digits', async () => {
    const key = s.project.writeKey;
    const top = await post(
      `${s.url}/batch/`,
      `{"api_key":"${key}","batch":[{"event":"phbig","distinct_id":1234567890123456789}]}`,
    );
    expect(top.status).toBe(200);
    const inProps = await post(
      `${s.url}/capture/`,
      `{"api_key":"${key}","event":"phbig","properties":{"distinct_id":9007199254740993}}`,
    );
    expect(inProps.status).toBe(200);
    const user = await post(
      `${s.url}/v1/track`,
      `{"event":"sgbig","userId":3234567890123456789,"messageId":"m-${kind}"}`,
      basic(key),
    );
    expect(user.status).toBe(200);
    const anon = await post(
      `${s.url}/v1/track`,
      `{"event":"sgbig","anonymousId":1e400,"messageId":"a-${kind}"}`,
      basic(key),
    );
    expect(anon.status).toBe(200);
    expect((await s.events({ event: 'phbig' })).map((e) => e.distinctId).sort()).toEqual([
      '1234567890123456789',
      '9007199254740993',
    ]);
    expect((await s.events({ event: 'sgbig' })).map((e) => e.distinctId).sort()).toEqual([
      '1e400',
      '3234567890123456789',
    ]);
  });
});
