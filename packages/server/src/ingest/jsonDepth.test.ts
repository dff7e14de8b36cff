import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { SERVER_DEFAULTS, type ServerOptions } from '../serverOptions.js';
import { NoopStore } from '../store/noop.js';
import { maxBodyDepth, nestedDeeperThan } from './jsonDepth.js';

describe('nestedDeeperThan', () => {
  it('counts arrays and objects inside each other, the body itself as level 1', () => {
    expect(nestedDeeperThan('{}', 1)).toBe(false);
    expect(nestedDeeperThan('[{}]', 1)).toBe(true);
    expect(nestedDeeperThan('[{}]', 2)).toBe(false);
    expect(nestedDeeperThan('[[],[],{"a":[1]}]', 3)).toBe(false);
    expect(nestedDeeperThan('[[],[],{"a":[[1]]}]', 3)).toBe(true);
    expect(nestedDeeperThan('1', 0)).toBe(false);
  });

  it('skips brackets inside strings, escaped quotes and backslashes included', () => {
    expect(nestedDeeperThan('["[[[[{{{{"]', 1)).toBe(false);
    expect(nestedDeeperThan('["\\"[[[[", "\\\\"]', 1)).toBe(false);
    // The string ends at the quote after an escaped backslash: the brackets after it count.
    expect(nestedDeeperThan('["\\\\", [[]]]', 2)).toBe(true);
    expect(nestedDeeperThan('{"k[":"v{","\\u005b":[]}', 2)).toBe(false);
  });

  it('refuses millions of levels without looking past the bound', () => {
    const n = 5_000_000;
    expect(nestedDeeperThan('['.repeat(n) + ']'.repeat(n), 99)).toBe(true);
  });
});

/** An object nested `levels` deep (1: `{}`), the innermost holding `leaf`. */
function nested(levels: number, leaf: unknown = 1): Record<string, unknown> {
  let v: Record<string, unknown> = { leaf };
  for (let i = 1; i < levels; i++) v = { n: v };
  return v;
}

describe('ingest bodies nested too deeply', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function start(options: Partial<ServerOptions> = {}) {
    const store = new NoopStore();
    const app = buildServer({ logger: false, store, rateLimit: false, ...options });
    cleanups.push(() => app.close());
    await app.ready();
    return app;
  }
  const key = new NoopStore().project.writeKey;

  it('are refused with 400 before the key is looked at, on every ingest route, gzip or not', async () => {
    const app = await start();
    const levels = 200_000;
    const deep = `{"batch":[{"event":"e","distinct_id":"d","uuid":${'['.repeat(levels)}${']'.repeat(levels)}}]}`;
    const reason = `JSON nested deeper than ${maxBodyDepth(SERVER_DEFAULTS.maxPropertiesDepth)} levels`;
    for (const url of ['/ingest', '/batch/', '/e/', '/v1/batch', '/decide/?v=4', '/flags/']) {
      for (const gzip of [false, true]) {
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
          payload: gzip ? gzipSync(deep) : deep,
        });
        expect({ url, gzip, status: res.statusCode }).toEqual({ url, gzip, status: 400 });
        expect(res.body).toContain(reason);
      }
    }
  });

  it('keep every event within maxPropertiesDepth, in each wire format', async () => {
    const app = await start();
    const depth = SERVER_DEFAULTS.maxPropertiesDepth;
    // The properties object is level 1 of maxPropertiesDepth: `nested(depth)` is as deep as allowed.
    const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', ...headers },
        payload: JSON.stringify(payload),
      });
    const native = await post(
      '/ingest',
      { batch: [{ event: 'e', distinct_id: 'd', properties: nested(depth), $set: nested(depth - 1) }] },
      { authorization: `Bearer ${key}` },
    );
    expect(native.statusCode).toBe(202);
    expect(native.json()).toMatchObject({ rejected: [] });
    const posthog = await post('/batch/', {
      api_key: key,
      batch: [{ event: 'e', distinct_id: 'd', properties: { ...nested(depth), $set: nested(depth - 1) } }],
    });
    expect(posthog.statusCode).toBe(200);
    const segment = await post('/v1/batch', {
      writeKey: key,
      batch: [
        {
          type: 'identify',
          userId: 'u',
          traits: nested(depth - 1),
          context: { traits: nested(depth - 2) },
          properties: nested(depth),
        },
      ],
    });
    expect(segment.statusCode).toBe(200);
    const decide = await post('/decide/?v=4', {
      token: key,
      distinct_id: 'd',
      person_properties: nested(depth),
      group_properties: { company: nested(depth) },
    });
    expect(decide.statusCode).toBe(200);
  });

  it('refuse an event a little too deep alone, its batch stored, as before the body was bounded', async () => {
    const app = await start();
    const res = await app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      payload: JSON.stringify({
        batch: [
          { event: 'ok', distinct_id: 'd' },
          { event: 'deep', distinct_id: 'd', properties: nested(SERVER_DEFAULTS.maxPropertiesDepth + 40) },
        ],
      }),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      rejected: [{ index: 1, error: expect.stringMatching(/nested deeper/) }],
    });
  });

  it('follow a maxPropertiesDepth set higher than the default', async () => {
    const app = await start({ maxPropertiesDepth: 300 });
    const res = await app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      payload: JSON.stringify([{ event: 'e', distinct_id: 'd', properties: nested(300) }]),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ rejected: [] });
  });
});
