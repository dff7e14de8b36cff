import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Project } from '../store/store.js';
import { BACKENDS, type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

/**
 * Two Authorization headers on an ingest request (a proxy that adds its own key beside the
 * sender's): Node keeps the first and drops the second, so the events landed in whichever
 * project's key came first. Every ingest route refuses them as a malformed request, in its
 * format's error shape, as the admin API does; nothing is stored in either project.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A POST whose headers go out as listed: an array value is one header line per element. */
function rawPost(
  url: string,
  path: string,
  headers: Record<string, string | string[]>,
  body: unknown,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, json: text === '' ? undefined : JSON.parse(text) }),
      );
    });
    req.end(JSON.stringify(body));
  });
}

const bearer = (p: Project): string => `Bearer ${p.writeKey}`;
const basic = (p: Project): string => `Basic ${Buffer.from(`${p.writeKey}:`).toString('base64')}`;
const MESSAGE = 'Authorization given more than once; send one key';

describe.each(BACKENDS)('two Authorization headers on ingest (%s)', (backend) => {
  let s: IngestServer;
  let other: Project;

  async function start(): Promise<void> {
    s = await startIngestServer(backend, cleanups);
    other = await s.store.createProject('other');
  }

  async function storedAnywhere(): Promise<number> {
    const here = await s.store.queryEvents({ projectId: s.project.id, limit: 100 });
    const there = await s.store.queryEvents({ projectId: other.id, limit: 100 });
    return here.length + there.length;
  }

  it('native: 400 malformed, whichever keys they carry', async () => {
    await start();
    const batch = [{ event: 'native', distinct_id: 'p' }];
    for (const auth of [
      [bearer(s.project), bearer(other)],
      [bearer(s.project), bearer(s.project)],
      [bearer(s.project), basic(other)],
    ]) {
      const r = await rawPost(s.url, '/ingest', { authorization: auth }, batch);
      expect(r).toEqual({ status: 400, json: { error: 'malformed', message: MESSAGE } });
    }
    // One header, and the same key in the body, still ingest.
    const one = await rawPost(
      s.url,
      '/ingest',
      { authorization: bearer(s.project) },
      {
        api_key: s.project.writeKey,
        batch,
      },
    );
    expect(one.status).toBe(202);
    expect(await storedAnywhere()).toBe(1);
  });

  it("PostHog: capture and flags answer 400 in PostHog's shape, also with the key in the body", async () => {
    await start();
    const refusal = { type: 'validation_error', code: 'invalid_payload', detail: MESSAGE, attr: null };
    const twice = { authorization: [bearer(s.project), bearer(other)] };
    const batch = await rawPost(s.url, '/batch/', twice, { batch: [{ event: 'ph', distinct_id: 'p' }] });
    expect(batch).toEqual({ status: 400, json: refusal });
    const withBodyKey = await rawPost(s.url, '/e/', twice, {
      api_key: s.project.writeKey,
      event: 'ph',
      distinct_id: 'p',
    });
    expect(withBodyKey).toEqual({ status: 400, json: refusal });
    const flags = await rawPost(s.url, '/flags/?v=2', twice, { token: s.project.writeKey, distinct_id: 'p' });
    expect(flags).toEqual({ status: 400, json: refusal });
    expect(await storedAnywhere()).toBe(0);
  });

  it('Segment: batch and single-message routes answer 400, Basic or Bearer', async () => {
    await start();
    const refusal = { success: false, error: 'malformed', message: MESSAGE };
    const twice = { authorization: [basic(s.project), basic(other)] };
    const batch = await rawPost(s.url, '/v1/batch', twice, {
      batch: [{ type: 'track', event: 'seg', userId: 'p' }],
    });
    expect(batch).toEqual({ status: 400, json: refusal });
    const track = await rawPost(s.url, '/v1/track', twice, { event: 'seg', userId: 'p' });
    expect(track).toEqual({ status: 400, json: refusal });
    const bearers = await rawPost(
      s.url,
      '/v1/t',
      { authorization: [bearer(s.project), bearer(other)] },
      { event: 'seg', userId: 'p', writeKey: s.project.writeKey },
    );
    expect(bearers).toEqual({ status: 400, json: refusal });
    expect(await storedAnywhere()).toBe(0);
  });
});
