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
    expect(badType.json.error).toMatch(/type must be one of/);
    expect((await post(`${s.url}/v1/batch`, { batch: 'x' }, basic(s.project.writeKey))).status).toBe(400);
    expect((await post(`${s.url}/v1/track`, [1, 2], basic(s.project.writeKey))).status).toBe(400);
  });
});
