import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrationOptionError } from './errors.js';
import { OWN_REQUEST } from '../platform/ownRequest.js';
import { describeRequest, failureKind, wrapFetch } from './fetch.js';
import { FakeTelemetry, ThrowingTelemetry, listen, until } from './integrations.test-helpers.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** A node:http server on 127.0.0.1: `/status/N` answers N, `/hang` never answers. */
async function startServer(): Promise<{ url: string; hanging: () => number }> {
  let hanging = 0;
  const server = createServer((req, res) => {
    const status = /^\/status\/(\d{3})/.exec(req.url ?? '');
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end(`status ${status[1]}`);
    } else if (req.url === '/hang') {
      hanging++;
    } else {
      res.writeHead(404).end('no');
    }
  });
  const { url, close } = await listen(server);
  closers.push(close);
  return { url, hanging: () => hanging };
}

describe('wrapFetch against a node:http server on 127.0.0.1', () => {
  it('records a breadcrumb and a timing per request, without the query or fragment', async () => {
    const { url } = await startServer();
    const t = new FakeTelemetry();
    const f = wrapFetch(t);
    const res = await f(`${url}/status/200?token=secret#frag`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('status 200');
    const host = new URL(url).host;
    expect(t.timings).toEqual([
      {
        name: 'http.client.duration',
        valueMs: expect.any(Number),
        tags: { method: 'GET', host, status: '200' },
      },
    ]);
    expect(t.breadcrumbs).toEqual([
      {
        category: 'fetch',
        level: 'info',
        message: `GET ${url}/status/200 200`,
        data: { method: 'GET', url: `${url}/status/200`, status: 200, durationMs: t.timings[0]!.valueMs },
      },
    ]);
    expect(JSON.stringify([t.timings, t.breadcrumbs])).not.toMatch(/secret|frag/);
  });

  it("leaves Homing's own delivery requests out (marked with OWN_REQUEST on init)", async () => {
    const { url } = await startServer();
    const t = new FakeTelemetry();
    const f = wrapFetch(t);
    const own = await f(`${url}/status/202`, {
      method: 'POST',
      body: '{}',
      [OWN_REQUEST]: true,
    } as RequestInit);
    expect(own.status).toBe(202);
    expect(t.timings).toEqual([]);
    expect(t.breadcrumbs).toEqual([]);
    await f(`${url}/status/200`, { method: 'POST', body: '{}' });
    expect(t.breadcrumbs).toHaveLength(1);
  });

  it('reads the method from init, a Request or a URL object, and levels by status', async () => {
    const { url } = await startServer();
    const t = new FakeTelemetry();
    const f = wrapFetch(t);
    await (await f(`${url}/status/404`, { method: 'delete' })).text();
    await (await f(new Request(`${url}/status/503`, { method: 'PUT', body: 'x' }))).text();
    await (await f(new URL(`${url}/status/201?x=1`), { method: 'POST', body: 'password=1' })).text();
    expect(t.timings.map((c) => [c.tags?.['method'], c.tags?.['status']])).toEqual([
      ['DELETE', '404'],
      ['PUT', '503'],
      ['POST', '201'],
    ]);
    expect(t.breadcrumbs.map((b) => b.level)).toEqual(['warning', 'error', 'info']);
    expect(JSON.stringify(t.breadcrumbs)).not.toContain('password');
  });

  it('records a network failure and rethrows the very same error', async () => {
    const { url } = await startServer();
    // A port nobody listens on any more.
    const gone = await listen(createServer());
    await gone.close();
    const t = new FakeTelemetry();
    const f = wrapFetch(t);
    const unwrapped = await fetch(`${gone.url}/x`).catch((e: unknown) => e);
    const error = await f(`${gone.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe((unwrapped as Error).message);
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', host: new URL(gone.url).host, status: 'network' });
    expect(t.breadcrumbs[0]).toMatchObject({ level: 'error', data: { status: null, error: 'network' } });
    expect(url).toBeTruthy();
  });

  it('records aborted and timed-out requests and rejects with the caller’s reason', async () => {
    const { url, hanging } = await startServer();
    const t = new FakeTelemetry();
    const f = wrapFetch(t);
    const controller = new AbortController();
    const pending = f(`${url}/hang`, { signal: controller.signal });
    await until(() => hanging() === 1, 'server to hold the request');
    controller.abort();
    const aborted = await pending.catch((e: unknown) => e);
    expect((aborted as Error).name).toBe('AbortError');

    const timedOut = await f(`${url}/hang`, { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect((timedOut as Error).name).toBe('TimeoutError');
    expect(t.timings.map((c) => c.tags?.['status'])).toEqual(['aborted', 'timeout']);
    expect(t.breadcrumbs.map((b) => b.message)).toEqual([
      `GET ${url}/hang aborted`,
      `GET ${url}/hang timeout`,
    ]);
  });

  it('returns the same response object, and passes input and init through untouched', async () => {
    const t = new FakeTelemetry();
    const response = { status: 204, marker: Symbol('response') };
    const seen: unknown[][] = [];
    const inner = async (...args: unknown[]): Promise<typeof response> => {
      seen.push(args);
      return response;
    };
    const f = wrapFetch(t, inner);
    const init = { method: 'PATCH', headers: { authorization: 'Bearer x' } };
    expect(await f('https://api.example.test/v1/items/9?q=1', init)).toBe(response);
    expect(await f('https://api.example.test/only-input')).toBe(response);
    expect(seen).toEqual([
      ['https://api.example.test/v1/items/9?q=1', init],
      ['https://api.example.test/only-input'],
    ]);
    expect(seen[0]![1]).toBe(init);
    expect(t.timings[0]!.tags).toEqual({ method: 'PATCH', host: 'api.example.test', status: '204' });
    expect(JSON.stringify(t.breadcrumbs)).not.toContain('Bearer');
  });

  it('rethrows a synchronous throw and passes a non-promise result back as is', () => {
    const t = new FakeTelemetry();
    const boom = new RangeError('sync');
    const throwing = wrapFetch(t, ((): never => {
      throw boom;
    }) as (url: string) => Promise<unknown>);
    expect(() => throwing('https://x.test/')).toThrow(boom);
    expect(t.timings[0]!.tags?.['status']).toBe('error');
    const plain = wrapFetch(t, (() => 42) as never) as unknown as (url: string) => unknown;
    expect(plain('https://x.test/')).toBe(42);
  });

  it('honours ignore, breadcrumbs: false, timings: false, statusTag and metric', async () => {
    const { url } = await startServer();
    const t = new FakeTelemetry();
    const f = wrapFetch(t, fetch, {
      metric: 'outbound',
      statusTag: 'class',
      breadcrumbs: false,
      ignore: (r) => r.url.endsWith('/status/202'),
    });
    await (await f(`${url}/status/202`)).text();
    await (await f(`${url}/status/500`)).text();
    expect(t.timings.map((c) => [c.name, c.tags?.['status']])).toEqual([['outbound', '5xx']]);
    expect(t.breadcrumbs).toEqual([]);
    const onlyCrumbs = wrapFetch(t, fetch, { timings: false });
    await (await onlyCrumbs(`${url}/status/200`)).text();
    expect(t.timings).toHaveLength(1);
    expect(t.breadcrumbs).toHaveLength(1);
  });

  it('with only the methods it needs: a breadcrumb-only telemetry works without timing()', async () => {
    const { url } = await startServer();
    const crumbs: unknown[] = [];
    const f = wrapFetch({ addBreadcrumb: (c: unknown) => crumbs.push(c) } as never, fetch, {
      timings: false,
    });
    await (await f(`${url}/status/200`)).text();
    expect(crumbs).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('a telemetry whose methods throw, or a throwing ignore, changes nothing', async () => {
    const { url } = await startServer();
    const t = new ThrowingTelemetry();
    const f = wrapFetch(t, fetch, {
      ignore: () => {
        throw new Error('ignore exploded');
      },
    });
    const res = await f(`${url}/status/200`);
    expect(await res.text()).toBe('status 200');
    const error = await f('http://127.0.0.1:1/').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(t.calls).toBe(4);
  });

  it('odd inputs are described without throwing and passed to fetch as given', () => {
    expect(describeRequest(undefined, undefined)).toEqual({ method: 'GET', url: '', host: '(relative)' });
    expect(describeRequest('/api/x?token=1', { method: 7 })).toEqual({
      method: 'GET',
      url: '/api/x',
      host: '(relative)',
    });
    expect(describeRequest({ url: 'https://h.test/a?b', method: 'BREW' }, null)).toEqual({
      method: 'OTHER',
      url: 'https://h.test/a',
      host: 'h.test',
    });
    expect(describeRequest('https://user:pw@h.test:8080/p#x', {})).toEqual({
      method: 'GET',
      url: 'https://h.test:8080/p',
      host: 'h.test:8080',
    });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(describeRequest(cyclic, cyclic).method).toBe('GET');
    expect(describeRequest('x'.repeat(100_000), undefined).url).toHaveLength(2048);
    expect(failureKind(null)).toBe('error');
    expect(failureKind(new DOMException('x', 'AbortError'))).toBe('aborted');
  });

  it('a getter that throws on the request object does not break the call', async () => {
    const t = new FakeTelemetry();
    const evil = {
      get url(): string {
        throw new Error('getter exploded');
      },
    };
    const inner = async (input: unknown): Promise<unknown> => ({ status: 200, input });
    const f = wrapFetch(t, inner);
    expect(await f(evil)).toEqual({ status: 200, input: evil });
    expect(t.timings).toEqual([]);
  });

  it('refuses a missing fetch, a wrong telemetry and wrong options, naming the option', () => {
    const cases: [() => unknown, string][] = [
      [() => wrapFetch(new FakeTelemetry(), 'fetch' as never), 'fetchImpl'],
      [() => wrapFetch(null as never, fetch), 'telemetry'],
      [() => wrapFetch({ timing() {} } as never, fetch), 'telemetry'],
      [() => wrapFetch(new FakeTelemetry(), fetch, 5 as never), 'options'],
      [() => wrapFetch(new FakeTelemetry(), fetch, { metric: '' }), 'metric'],
      [() => wrapFetch(new FakeTelemetry(), fetch, { breadcrumbs: 'no' as never }), 'breadcrumbs'],
      [() => wrapFetch(new FakeTelemetry(), fetch, { statusTag: 'family' as never }), 'statusTag'],
      [() => wrapFetch(new FakeTelemetry(), fetch, { ignore: /x/ as never }), 'ignore'],
    ];
    for (const [make, option] of cases) {
      let thrown: unknown;
      try {
        make();
      } catch (e) {
        thrown = e;
      }
      expect(thrown, option).toBeInstanceOf(IntegrationOptionError);
      expect((thrown as IntegrationOptionError).option).toBe(option);
    }
  });
});
