import { createServer, request as httpRequest } from 'node:http';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrationOptionError } from './errors.js';
import { homingExpress, homingExpressErrorHandler } from './express.js';
import type { HomingExpressErrorHandlerOptions, HomingExpressOptions } from './express.js';
import { instrumentExpress } from './instrumentExpress.js';
import { FakeTelemetry, ThrowingTelemetry, listen, until } from './integrations.test-helpers.js';
import type { TelemetryLike } from './telemetryLike.js';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

type Timer = (app: express.Express, telemetry: TelemetryLike, options?: HomingExpressOptions) => void;

/** The two ways to time an app's requests; every timing test runs against both. */
const TIMERS: [string, Timer][] = [
  ['homingExpress middleware', (app, telemetry, options) => void app.use(homingExpress(telemetry, options))],
  ['instrumentExpress', (app, telemetry, options) => void instrumentExpress(app, telemetry, options)],
];

/** A small real app: routes with params, a mounted router with a parameterised mount path, errors. */
async function startAppWith(
  telemetry: TelemetryLike,
  options: {
    timing?: HomingExpressOptions;
    capture?: HomingExpressErrorHandlerOptions;
    twoHandlers?: boolean;
    onHang?: () => void;
    timer: Timer;
  },
): Promise<string> {
  const app = express();
  options.timer(app, telemetry, options.timing);
  app.use(express.json());
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  app.post('/echo', (req, res) => {
    res.status(201).json(req.body);
  });
  app.get('/boom', () => {
    throw new Error('sync boom');
  });
  app.get('/async-boom/:n', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('async boom');
  });
  app.get('/teapot', () => {
    throw new HttpError(418, 'I am a teapot');
  });
  app.get('/hang', () => {
    // Never answers: the client goes away first.
    options.onHang?.();
  });
  const router = express.Router();
  router.get('/', (_req, res) => {
    res.send('projects');
  });
  router.get('/projects/:pid', (_req, res) => {
    res.send('project');
  });
  router.get('/projects/:pid/fail', () => {
    throw new Error('router boom');
  });
  app.use('/orgs/:org', router);
  app.use(homingExpressErrorHandler(telemetry, options.capture));
  if (options.twoHandlers) app.use(homingExpressErrorHandler(telemetry, options.capture));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = error instanceof HttpError ? error.status : 500;
    res.status(status).json({ error: (error as Error).message, id: res.locals['homingErrorId'] ?? null });
  });
  const server = createServer(app);
  const { url, close } = await listen(server);
  closers.push(close);
  return url;
}

describe.each(TIMERS)('%s', (_name, timer) => {
  const startApp = (
    telemetry: TelemetryLike,
    options: Omit<Parameters<typeof startAppWith>[1], 'timer'> = {},
  ): Promise<string> => startAppWith(telemetry, { ...options, timer });

  describe('timings (real Express app on 127.0.0.1)', () => {
    it('times a request with method, route pattern and status; no ids, query or body', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      const res = await fetch(`${url}/users/42?token=secret-token`);
      expect(await res.json()).toEqual({ id: '42' });
      await until(() => t.timings.length === 1, 'timing');
      const [call] = t.timings;
      expect(call!.name).toBe('http.server.duration');
      expect(call!.tags).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
      expect(call!.valueMs).toBeGreaterThanOrEqual(0);
      expect(JSON.stringify(t.timings.map((c) => c.tags))).not.toMatch(/42|secret/);

      await fetch(`${url}/echo`, {
        method: 'POST',
        body: '{"password":"hunter2"}',
        headers: { 'content-type': 'application/json' },
      });
      await until(() => t.timings.length === 2, 'second timing');
      expect(t.timings[1]!.tags).toEqual({ method: 'POST', route: '/echo', status: '201' });
      expect(JSON.stringify(t.timings)).not.toContain('hunter2');
    });

    it('names routes of a router mounted on a parameterised path by pattern', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      await (await fetch(`${url}/orgs/acme/projects/p-7`)).text();
      await (await fetch(`${url}/orgs/acme`)).text();
      await (await fetch(`${url}/orgs/a%20b/projects/1`)).text();
      await until(() => t.timings.length === 3, 'timings');
      expect(t.timings.map((c) => c.tags?.['route'])).toEqual([
        '/orgs/:org/projects/:pid',
        '/orgs/:org',
        '/orgs/:org/projects/:pid',
      ]);
    });

    it('files every URL no route matched under one "unmatched" route', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      for (const path of ['/nope', '/nope/1', '/users', '/orgs/acme/nothing']) {
        expect((await fetch(url + path)).status).toBe(404);
      }
      await until(() => t.timings.length === 4, 'timings');
      for (const call of t.timings)
        expect(call.tags).toEqual({ method: 'GET', route: 'unmatched', status: '404' });
    });

    it('names the routes of a mounted sub-app, and keeps apps apart', async () => {
      const t = new FakeTelemetry();
      const other = new FakeTelemetry();
      const shop = express();
      shop.get('/items/:id', (_req, res) => {
        res.send('item');
      });
      const app = express();
      timer(app, t);
      app.use('/shop', shop);
      const { url, close } = await listen(createServer(app));
      closers.push(close);
      const url2 = await startApp(other);
      await (await fetch(`${url}/shop/items/3`)).text();
      await (await fetch(`${url2}/users/3`)).text();
      await until(() => t.timings.length === 1 && other.timings.length === 1, 'timings');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/shop/items/:id', status: '200' });
      expect(other.timings[0]!.tags).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
    });

    it('prefers a route a router put on the request itself over the watched prototype', async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      app.use((req, res) => {
        // What a router whose request prototype is not watched leaves: a plain own property.
        Object.defineProperty(req, 'route', {
          value: { path: '/own/:x' },
          writable: true,
          configurable: true,
        });
        res.send('own');
      });
      const { url, close } = await listen(createServer(app));
      closers.push(close);
      expect(await (await fetch(`${url}/own/1`)).text()).toBe('own');
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/own/:x', status: '200' });
    });

    it('names the routes of requests that interleave: one waits in a middleware while another is served', async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      let waiting = false;
      let release = (): void => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      app.use(async (req, _res, next) => {
        if (req.path.startsWith('/slow')) {
          waiting = true;
          await gate;
        }
        next();
      });
      app.get('/slow/:id', (_req, res) => {
        res.send('slow');
      });
      const router = express.Router();
      router.get('/fast/:id', (_req, res) => {
        res.send('fast');
      });
      app.use('/m/:m', router);
      const { url, close } = await listen(createServer(app));
      closers.push(close);
      const slow = fetch(`${url}/slow/1`).then((r) => r.text());
      await until(() => waiting, 'the slow request in the middleware');
      expect(await (await fetch(`${url}/m/x/fast/2`)).text()).toBe('fast');
      release();
      expect(await slow).toBe('slow');
      await until(() => t.timings.length === 2, 'timings');
      expect(t.timings.map((c) => c.tags)).toEqual([
        { method: 'GET', route: '/m/:m/fast/:id', status: '200' },
        { method: 'GET', route: '/slow/:id', status: '200' },
      ]);
    });

    it("keeps a request's state under one symbol and adds no string key to Express's request objects", async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      let own: (string | symbol)[] = [];
      let keys: string[] = [];
      const router = express.Router();
      router.get('/items/:id', (req, res) => {
        own = Reflect.ownKeys(req).filter((k) => typeof k === 'symbol' || k === 'route');
        keys = Object.keys(req);
        res.send('ok');
      });
      app.use('/shop/:shop', router);
      const server = createServer(app);
      const { url, close } = await listen(server);
      closers.push(close);
      await (await fetch(`${url}/shop/acme/items/7`)).text();
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/shop/:shop/items/:id', status: '200' });
      // Node's own symbols on IncomingMessage are there too; Homing adds exactly one, and `route`
      // stays an accessor on the app's request prototype, not a property of each request.
      expect(
        own.map(String).filter((k) => /homing/i.test(k) || k === 'route'),
        own.map(String).join(),
      ).toEqual(['Symbol(homing.expressRequestState)']);
      expect(keys.filter((k) => /homing/i.test(k) || k === 'route')).toEqual([]);
    });

    it('leaves res.locals to the app, and still names the route when an app replaces locals', async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      let seen = '';
      app.get('/spread/:id', (_req, res) => {
        seen = JSON.stringify({
          ...res.locals,
          keys: Reflect.ownKeys(res.locals).filter((k) => typeof k === 'string'),
        });
        res.send('ok');
      });
      app.use((_req, res, next) => {
        res.locals = { replaced: true };
        next();
      });
      app.get('/replaced/:id', (_req, res) => {
        res.send('ok');
      });
      const server = createServer(app);
      const { url, close } = await listen(server);
      closers.push(close);
      await (await fetch(`${url}/spread/1`)).text();
      await (await fetch(`${url}/replaced/2`)).text();
      await until(() => t.timings.length === 2, 'timings');
      expect(seen).toBe('{"keys":[]}');
      expect(t.timings.map((c) => c.tags?.['route']).sort()).toEqual(['/replaced/:id', '/spread/:id']);
    });

    it('tags a routed request with the method its route matched', async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      // A method override before the routes (as the method-override package does) is what matches.
      app.use((req, _res, next) => {
        if (req.get('x-http-method-override') === 'DELETE') req.method = 'DELETE';
        next();
      });
      app.delete('/items/:id', (req, res) => {
        // Changed after the match: the timing keeps the method the route was matched with.
        req.method = 'PATCH';
        res.send('deleted');
      });
      const { url, close } = await listen(createServer(app));
      closers.push(close);
      const answer = await fetch(`${url}/items/1`, {
        method: 'POST',
        headers: { 'x-http-method-override': 'DELETE' },
      });
      expect(await answer.text()).toBe('deleted');
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags).toEqual({ method: 'DELETE', route: '/items/:id', status: '200' });
    });

    it('tags methods outside the standard set as OTHER', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      await (await fetch(`${url}/users/1`, { method: 'PURGE' })).text();
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags?.['method']).toBe('OTHER');
    });

    it('records a request the client abandoned as status "aborted"', async () => {
      const t = new FakeTelemetry();
      let abandon = (): void => {};
      const url = await startApp(t, { onHang: () => abandon() });
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${url}/hang`);
        req.on('error', () => resolve());
        req.on('close', () => resolve());
        // Abandoned once the server is in the handler (the hang route never answers).
        abandon = () => req.destroy();
        req.end();
      });
      await until(() => t.timings.length === 1, 'aborted timing');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/hang', status: 'aborted' });
    });

    it('uses status classes, a custom metric, skip and a custom route namer when asked', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t, {
        timing: {
          metric: 'api.latency',
          statusTag: 'class',
          skip: (req) => req.url === '/orgs/acme',
          route: (req) => (req.originalUrl?.startsWith('/echo') ? 'echo-endpoint' : undefined),
        },
      });
      await (await fetch(`${url}/orgs/acme`)).text();
      await (await fetch(`${url}/users/1`)).text();
      await (await fetch(`${url}/echo`, { method: 'POST' })).text();
      await until(() => t.timings.length === 2, 'timings');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(t.timings.map((c) => [c.name, c.tags])).toEqual([
        ['api.latency', { method: 'GET', route: '/users/:id', status: '2xx' }],
        ['api.latency', { method: 'POST', route: 'echo-endpoint', status: '2xx' }],
      ]);
    });
  });

  describe('homingExpressErrorHandler', () => {
    it('captures a thrown error with the route and passes it on to the app handler', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      const res = await fetch(`${url}/boom?q=secret`);
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: string; id: string };
      expect(body.error).toBe('sync boom');
      expect(t.captures).toHaveLength(1);
      const capture = t.captures[0]!;
      expect((capture.error as Error).message).toBe('sync boom');
      expect(body.id).toBe(capture.id);
      expect(capture.context).toEqual({
        severity: 'error',
        tags: { 'http.method': 'GET', 'http.route': '/boom', 'http.status': '500' },
        context: { request: { method: 'GET', route: '/boom', status: 500 } },
      });
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/boom', status: '500' });
    });

    it('captures async (rejected promise) errors', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      const res = await fetch(`${url}/async-boom/3`);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: string }).error).toBe('async boom');
      expect(t.captures.map((c) => c.context?.tags?.['http.route'])).toEqual(['/async-boom/:n']);
    });

    it('keeps the full pattern of a route in a mounted router when the error reaches the app handler', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      expect((await fetch(`${url}/orgs/acme/projects/9/fail`)).status).toBe(500);
      expect(t.captures[0]!.context?.tags?.['http.route']).toBe('/orgs/:org/projects/:pid/fail');
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.tags?.['route']).toBe('/orgs/:org/projects/:pid/fail');
    });

    it('does not capture 4xx errors by default, but passes them on; shouldCapture decides otherwise', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t);
      expect((await fetch(`${url}/teapot`)).status).toBe(418);
      const bad = await fetch(`${url}/echo`, {
        method: 'POST',
        body: '{not json',
        headers: { 'content-type': 'application/json' },
      });
      expect(bad.status).toBe(500); // the app's handler answers 500 for a non-HttpError
      expect(t.captures).toHaveLength(0); // express.json's 400 error is a client error

      const t2 = new FakeTelemetry();
      const url2 = await startApp(t2, { capture: { shouldCapture: (_e, status) => status >= 400 } });
      expect((await fetch(`${url2}/teapot`)).status).toBe(418);
      expect(t2.captures).toHaveLength(1);
      expect(t2.captures[0]!.context?.tags?.['http.status']).toBe('418');
    });

    it('captures each error once even through two handlers', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t, { twoHandlers: true });
      expect((await fetch(`${url}/boom`)).status).toBe(500);
      expect(t.captures).toHaveLength(1);
    });

    it('adds path, query, chosen headers and body only when asked', async () => {
      const t = new FakeTelemetry();
      const url = await startApp(t, {
        capture: {
          includePath: true,
          includeQuery: true,
          includeHeaders: ['X-Request-Id'],
          includeBody: true,
          severity: 'fatal',
        },
      });
      expect(
        (
          await fetch(`${url}/orgs/acme/projects/5/fail?page=2`, {
            headers: { 'x-request-id': 'r-1', cookie: 'c=1' },
          })
        ).status,
      ).toBe(500);
      expect(t.captures[0]!.context?.severity).toBe('fatal');
      expect(t.captures[0]!.context?.context).toEqual({
        request: {
          method: 'GET',
          route: '/orgs/:org/projects/:pid/fail',
          status: 500,
          path: '/orgs/acme/projects/5/fail',
          query: 'page=2',
          headers: { 'x-request-id': 'r-1' },
        },
      });
    });

    it('captures non-Error throwables (strings, null) without failing', async () => {
      const t = new FakeTelemetry();
      const app = express();
      timer(app, t);
      app.get('/string', (_req, _res, next) => next('a string'));
      app.get('/frozen', () => {
        throw Object.freeze(new Error('frozen'));
      });
      app.use(homingExpressErrorHandler(t));
      const { url, close } = await listen(createServer(app));
      closers.push(close);
      expect((await fetch(`${url}/string`)).status).toBe(500);
      expect((await fetch(`${url}/frozen`)).status).toBe(500);
      expect(t.captures.map((c) => c.error)).toEqual(['a string', expect.any(Error)]);
    });
  });

  describe('bad input', () => {
    it('a telemetry object whose every method throws never breaks a request', async () => {
      const t = new ThrowingTelemetry();
      const url = await startApp(t);
      const ok = await fetch(`${url}/users/7`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ id: '7' });
      const failed = await fetch(`${url}/boom`);
      expect(failed.status).toBe(500);
      expect(await failed.json()).toEqual({ error: 'sync boom', id: null });
      await until(() => t.calls >= 3, 'telemetry calls');
      // The server still serves after the throws.
      expect((await fetch(`${url}/users/8`)).status).toBe(200);
    });

    it('a throwing skip, route namer or shouldCapture is ignored', async () => {
      const t = new FakeTelemetry();
      const throwing = (): never => {
        throw new Error('option exploded');
      };
      const url = await startApp(t, {
        timing: { skip: throwing, route: throwing },
        capture: { shouldCapture: throwing },
      });
      expect((await fetch(`${url}/users/1`)).status).toBe(200);
      expect((await fetch(`${url}/boom`)).status).toBe(500);
      await until(() => t.timings.length === 2, 'timings');
      expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
      expect(t.captures).toHaveLength(0);
    });

    it('records the duration from the injected clock and clamps a clock going backwards to 0', async () => {
      const t = new FakeTelemetry();
      let clock = 1000;
      const url = await startApp(t, { timing: { now: () => (clock -= 7) } });
      await (await fetch(`${url}/users/1`)).text();
      await until(() => t.timings.length === 1, 'timing');
      expect(t.timings[0]!.valueMs).toBe(0);
    });
  });
});

describe('homingExpress middleware alone', () => {
  it('works on plain node:http requests too (no Express prototype to watch)', async () => {
    const t = new FakeTelemetry();
    const middleware = homingExpress(t);
    const server = createServer((req, res) =>
      middleware(req, res, () => {
        // What a router would do on a match.
        (req as { route?: unknown }).route = { path: '/plain/:id' };
        res.end('plain');
      }),
    );
    const { url, close } = await listen(server);
    closers.push(close);
    expect(await (await fetch(`${url}/plain/1`)).text()).toBe('plain');
    await until(() => t.timings.length === 1, 'timing');
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/plain/:id', status: '200' });
  });
  it('times a request that cannot take a property (sealed), keeping its state beside it', () => {
    const t = new FakeTelemetry();
    const middleware = homingExpress(t);
    // Shaped like Express's: the request's prototype is an app's request prototype (own `app`).
    const appRequest = Object.create(Object.prototype, { app: { value: {}, enumerable: true } }) as object;
    const req = Object.preventExtensions(
      Object.assign(Object.create(appRequest) as object, {
        method: 'GET',
        baseUrl: '/orgs/acme',
        params: { org: 'acme' },
      }),
    ) as { route?: { path?: unknown } };
    let onClose: (() => void) | undefined;
    const res = {
      req,
      statusCode: 201,
      writableFinished: true,
      on: (_event: string, listener: () => void) => void (onClose = listener),
    };
    let nextCalls = 0;
    middleware(req, res, () => nextCalls++);
    req.route = { path: '/projects/:pid' };
    expect(Reflect.ownKeys(req).map(String)).toEqual(['method', 'baseUrl', 'params']);
    onClose!.call(res);
    expect(nextCalls).toBe(1);
    expect(t.timings.map((c) => c.tags)).toEqual([
      { method: 'GET', route: '/orgs/:org/projects/:pid', status: '201' },
    ]);
  });
});

describe('set-up', () => {
  it('refuses wrong telemetry objects and options at set-up, naming the option', () => {
    const cases: [() => unknown, string][] = [
      [() => homingExpress(null as never), 'telemetry'],
      [() => homingExpress('x' as never), 'telemetry'],
      [() => homingExpress({} as never), 'telemetry'],
      [() => homingExpressErrorHandler({ timing() {} } as never), 'telemetry'],
      [() => homingExpress(new FakeTelemetry(), [] as never), 'options'],
      [() => homingExpress(new FakeTelemetry(), { metric: '' }), 'metric'],
      [() => homingExpress(new FakeTelemetry(), { metric: 'x'.repeat(201) }), 'metric'],
      [() => homingExpress(new FakeTelemetry(), { statusTag: 'family' as never }), 'statusTag'],
      [() => homingExpress(new FakeTelemetry(), { skip: 'health' as never }), 'skip'],
      [() => homingExpress(new FakeTelemetry(), { route: 1 as never }), 'route'],
      [() => homingExpress(new FakeTelemetry(), { now: 5 as never }), 'now'],
      [() => homingExpressErrorHandler(new FakeTelemetry(), { severity: 'critical' as never }), 'severity'],
      [
        () => homingExpressErrorHandler(new FakeTelemetry(), { includeHeaders: 'cookie' as never }),
        'includeHeaders',
      ],
      [() => homingExpressErrorHandler(new FakeTelemetry(), { includeBody: 'yes' as never }), 'includeBody'],
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
      expect((thrown as IntegrationOptionError).kind).toBe('invalid-option');
    }
  });
});
