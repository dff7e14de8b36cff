import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, STORE_KINDS, startServerOn, type Running } from './harness.js';

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

describe.each(STORE_KINDS)('Segment routes (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('POST /v1/batch with Basic auth maps messageId, userId and context; answers {"success":true}', async () => {
    const sentAt = new Date().toISOString();
    const r = await post(
      `${s.url}/v1/batch`,
      {
        batch: [
          {
            type: 'track',
            event: 'Order Completed',
            userId: 'u1',
            messageId: 'ajs-next-abc',
            properties: { total: 9.5 },
            context: { library: { name: 'analytics-node-next', version: '1.0' }, ip: '1.2.3.4' },
            timestamp: sentAt,
          },
        ],
        sentAt,
      },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ success: true });
    const [e] = await s.events({ event: 'Order Completed' });
    expect(e).toMatchObject({
      uuid: 'ajs-next-abc',
      distinctId: 'u1',
      properties: {
        total: 9.5,
        $lib: 'analytics-node-next',
        $lib_version: '1.0',
        $context: { ip: '1.2.3.4' },
      },
    });
  });

  it.each([
    ['/v1/track', { event: 'T', userId: 'a' }, 'T'],
    ['/v1/identify', { userId: 'a', traits: { x: 1 } }, '$identify'],
    ['/v1/page', { anonymousId: 'a', name: 'P' }, '$pageview'],
    ['/v1/screen', { userId: 'a', name: 'S' }, '$screen'],
    ['/v1/group', { userId: 'a', groupId: 'g' }, '$groupidentify'],
    ['/v1/alias', { userId: 'a', previousId: 'b' }, '$create_alias'],
    ['/v1/t', { event: 'short', userId: 'a' }, 'short'],
  ])('%s stores one message as %s', async (path, message, event) => {
    const r = await post(`${s.url}${path}`, {
      ...message,
      writeKey: s.project.writeKey,
      messageId: `m${path}`,
    });
    expect(r.status).toBe(200);
    expect((await s.events({ event })).some((e) => e.uuid === `m${path}`)).toBe(true);
  });

  it('without a key, the 401 says how Segment sends one: HTTP Basic or writeKey', async () => {
    const r = await post(`${s.url}/v1/batch`, { batch: [{ type: 'track', event: 'x', userId: 'u' }] });
    expect(r.status).toBe(401);
    expect(r.text).toMatch(/HTTP Basic auth/);
    expect(r.text).toMatch(/writeKey/);
    expect(r.text).not.toMatch(/Bearer|api_key/);
  });

  it('an empty userId is no userId: the anonymousId is the distinct_id', async () => {
    const r = await post(
      `${s.url}/v1/track`,
      { event: 'Signed Out Click', userId: '', anonymousId: 'anon-empty-1', messageId: 'm-empty-user' },
      basic(s.project.writeKey),
    );
    expect(r.json).toEqual({ success: true });
    const [e] = await s.events({ event: 'Signed Out Click' });
    expect(e!.distinctId).toBe('anon-empty-1');
    expect(e!.properties.$anon_distinct_id).toBeUndefined();
  });

  it('refuses what is not Segment: no key 401, bad type 400, no batch array 400', async () => {
    expect(
      (await post(`${s.url}/v1/batch`, { batch: [{ type: 'track', event: 'x', userId: 'u' }] })).status,
    ).toBe(401);
    const badType = await post(
      `${s.url}/v1/batch`,
      { batch: [{ type: 'nope', userId: 'u' }] },
      basic(s.project.writeKey),
    );
    expect(badType.status).toBe(400);
    expect(badType.json).toMatchObject({
      error: 'invalid-request',
      message: expect.stringMatching(/type must be one of/) as string,
    });
    expect((await post(`${s.url}/v1/batch`, { batch: 'x' }, basic(s.project.writeKey))).status).toBe(400);
    expect((await post(`${s.url}/v1/track`, [1, 2], basic(s.project.writeKey))).status).toBe(400);
  });

  it("corrects clock skew from sentAt, the batch's or a message's own, and keeps the original timestamp", async () => {
    const now = Date.now();
    // The client's clock is one hour behind; the event happened 5 s before it was sent.
    const clientNow = now - 3_600_000;
    const original = new Date(clientNow - 5_000).toISOString();
    const sentAt = new Date(clientNow).toISOString();
    const key = basic(s.project.writeKey);
    const batch = await post(
      `${s.url}/v1/batch`,
      { batch: [{ type: 'track', event: 'seg.skew.batch', userId: 'k1', timestamp: original }], sentAt },
      key,
    );
    expect(batch.status).toBe(200);
    const single = await post(
      `${s.url}/v1/track`,
      { event: 'seg.skew.single', userId: 'k1', timestamp: original, sentAt },
      key,
    );
    expect(single.status).toBe(200);
    for (const event of ['seg.skew.batch', 'seg.skew.single']) {
      const [e] = await s.events({ event });
      expect(e!.originalTimestamp).toBe(original);
      // 5 s before the server received it; the correction counts the request's transit as skew,
      // so the stored time is at most 5 s before receipt and not much earlier.
      const corrected = Date.parse(e!.timestamp);
      expect(corrected).toBeLessThanOrEqual(Date.parse(e!.receivedAt) - 5_000);
      expect(corrected).toBeGreaterThan(now - 5_000 - 10_000);
    }
  });
});

describe('Segment routes: a message over maxEventBytes', () => {
  const maxEventBytes = 2000;
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { maxEventBytes });
  });
  afterAll(async () => {
    await s?.close();
  });

  const oversized = (type: string, messageId: string) => ({
    type,
    event: 'seg.big',
    userId: 'big',
    groupId: 'g',
    previousId: 'p',
    messageId,
    properties: { blob: 'x'.repeat(maxEventBytes) },
  });

  it.each(['track', 'identify', 'page', 'screen', 'group', 'alias'])(
    '/v1/%s answers 413 naming the limit when its one message is too large',
    async (type) => {
      const r = await post(`${s.url}/v1/${type}`, oversized(type, `big-${type}`), basic(s.project.writeKey));
      expect(r.status).toBe(413);
      expect(r.json).toEqual({
        success: false,
        error: 'too-large',
        message: expect.stringContaining(`${maxEventBytes} bytes`),
      });
      expect(r.json.message).toMatch(/maxEventBytes/);
      const stored = await s.events({ distinctId: 'big' });
      expect(stored.some((e) => e.uuid === `big-${type}`)).toBe(false);
    },
  );

  it('a batch with one oversized message stores the rest and answers 200', async () => {
    const r = await post(
      `${s.url}/v1/batch`,
      {
        batch: [
          oversized('track', 'batch-big'),
          { type: 'track', event: 'seg.small', userId: 'small', messageId: 'batch-small' },
        ],
      },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ success: true });
    expect((await s.events({ event: 'seg.small' })).map((e) => e.uuid)).toEqual(['batch-small']);
    expect(await s.events({ distinctId: 'big' })).toEqual([]);
  });

  it("names Segment's own fields in its errors: messageId, userId or anonymousId", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ event: 'e', userId: 'u', messageId: 123 }, /^message 0: messageId must be a non-empty string/],
      [{ event: 'e' }, /^message 0: userId or anonymousId must be a non-empty string/],
      [{ event: 'e', anonymousId: 'x'.repeat(1001) }, /^message 0: anonymousId longer than 1000/],
      [{ event: 'e', userId: 'a\u0000b' }, /^message 0: userId contains NUL/],
    ];
    for (const [message, reason] of cases) {
      const r = await post(`${s.url}/v1/track`, message, basic(s.project.writeKey));
      expect(r.status).toBe(400);
      expect((r.json as { message: string }).message).toMatch(reason);
    }
  });

  it('a one-message body refused for another reason is still a 400', async () => {
    const r = await post(`${s.url}/v1/track`, { userId: 'no-event-name' }, basic(s.project.writeKey));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      success: false,
      error: 'invalid-request',
      message: expect.stringMatching(/^message 0: event/) as string,
    });
  });
});

describe('Segment routes: maxEventBytes and maxPropertiesDepth apply to the event as stored', () => {
  const maxEventBytes = 2000;
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { maxEventBytes, maxPropertiesDepth: 4 });
  });
  afterAll(async () => {
    await s?.close();
  });

  // Within the limit as sent; stored twice over (as url and as $current_url).
  const longUrl = `https://example.com/${'p'.repeat(1100)}`;

  it('a page whose url, copied to $current_url, is over maxEventBytes is refused by index', async () => {
    const r = await post(
      `${s.url}/v1/batch`,
      {
        batch: [
          { type: 'page', userId: 'long-url', messageId: 'page-long', properties: { url: longUrl } },
          {
            type: 'page',
            userId: 'long-url',
            messageId: 'page-short',
            properties: { url: 'https://e.com/' },
          },
        ],
      },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(200);
    expect((await s.events({ distinctId: 'long-url' })).map((e) => e.uuid)).toEqual(['page-short']);

    const one = await post(
      `${s.url}/v1/page`,
      { userId: 'long-url', messageId: 'page-long-1', properties: { url: longUrl } },
      basic(s.project.writeKey),
    );
    expect(one.status).toBe(413);
    expect(one.json.message).toMatch(/larger than the limit of 2000 bytes .*maxEventBytes/);
    expect((await s.events({ distinctId: 'long-url' })).map((e) => e.uuid)).toEqual(['page-short']);
  });

  it('a library name copied to $lib, beside $context, is counted twice too', async () => {
    const r = await post(
      `${s.url}/v1/track`,
      {
        event: 'lib.long',
        userId: 'lib',
        context: { library: { name: 'l'.repeat(1100), version: '1' } },
      },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(413);
    expect(await s.events({ event: 'lib.long' })).toEqual([]);
  });

  it('traits nested to the limit, stored one level deeper as $set or $group_set, are refused with the reason', async () => {
    // traits is level 1 of the message, but $set is level 2 of the stored properties.
    const traits = { a: { b: { c: { d: 1 } } } };
    const r = await post(
      `${s.url}/v1/batch`,
      {
        batch: [
          { type: 'identify', userId: 'deep', messageId: 'id-deep', traits },
          { type: 'group', userId: 'deep', groupId: 'g', messageId: 'group-deep', traits },
          { type: 'track', event: 'ctx', userId: 'deep', messageId: 'ctx-deep', context: traits },
          { type: 'identify', userId: 'deep', messageId: 'id-ok', traits: traits.a },
        ],
      },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(200);
    const stored = await s.events({ distinctId: 'deep' });
    expect(stored.map((e) => e.uuid)).toEqual(['id-ok']);
    expect(stored[0]!.properties.$set).toEqual(traits.a);

    const one = await post(
      `${s.url}/v1/identify`,
      { userId: 'deep', messageId: 'id-deep-1', traits },
      basic(s.project.writeKey),
    );
    expect(one.status).toBe(400);
    expect(one.json).toEqual({
      success: false,
      error: 'invalid-request',
      message: 'message 0: properties nested deeper than 4 levels',
    });
  });

  it('every event it stores can be sent again as it is exported', async () => {
    const batch = Array.from({ length: 40 }, (_, i) => ({
      type: 'page',
      userId: 'round-trip',
      messageId: `rt-${i}`,
      properties: { url: `https://example.com/${'q'.repeat(800 + i * 5)}` },
    }));
    expect((await post(`${s.url}/v1/batch`, { batch }, basic(s.project.writeKey))).status).toBe(200);
    const exported = await fetch(`${s.url}/api/persons/round-trip/export`, {
      headers: { authorization: `Bearer ${s.project.adminKey}` },
    });
    const lines = (await exported.text()).trim().split('\n');
    // Some were stored and some refused: the limit was crossed inside the batch.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(40);
    const other = await s.store.createProject('round-trip-import');
    const again = await post(
      `${s.url}/ingest`,
      lines.map((l) => JSON.parse(l) as unknown),
      { authorization: `Bearer ${other.writeKey}` },
    );
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ accepted: lines.length, rejected: [] });
  });
});
