import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrationOptionError } from './errors.js';
import { homingFastify } from './fastify.js';
import type { HomingFastifyOptions } from './fastify.js';
import { FakeTelemetry, ThrowingTelemetry, until } from './integrations.test-helpers.js';
import type { TelemetryLike } from './telemetryLike.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** A real Fastify app on 127.0.0.1: the plugin at the root, routes in the root and in a prefixed child. */
async function startApp(
  telemetry: TelemetryLike,
  options: Omit<HomingFastifyOptions, 'telemetry'> = {},
): Promise<string> {
  const app = Fastify();
  apps.push(app);
  await app.register(homingFastify, { telemetry, ...options });
  app.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  app.get('/boom', async () => {
    throw new Error('sync boom');
  });
  app.get('/async-boom/:n', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('async boom');
  });
  app.post(
    '/validated',
    { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
    async (_request, reply) => reply.code(201).send({ ok: true }),
  );
  await app.register(
    async (child) => {
      child.get('/projects/:pid', async () => 'project');
      child.get('/projects/:pid/fail', async () => {
        throw Object.assign(new Error('child boom'), { statusCode: 503 });
      });
    },
    { prefix: '/orgs/:org' },
  );
  return app.listen({ port: 0, host: '127.0.0.1' });
}

describe('homingFastify (real Fastify app on 127.0.0.1)', () => {
  it('times requests by method, route pattern (with prefixes) and status; no query or ids', async () => {
    const t = new FakeTelemetry();
    const url = await startApp(t);
    expect(await (await fetch(`${url}/users/42?token=secret`)).json()).toEqual({ id: '42' });
    expect(await (await fetch(`${url}/orgs/acme/projects/7`)).text()).toBe('project');
    await until(() => t.timings.length === 2, 'timings');
    expect(t.timings.map((c) => [c.name, c.tags])).toEqual([
      ['http.server.duration', { method: 'GET', route: '/users/:id', status: '200' }],
      ['http.server.duration', { method: 'GET', route: '/orgs/:org/projects/:pid', status: '200' }],
    ]);
    for (const c of t.timings) expect(c.valueMs).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(t.timings.map((c) => c.tags))).not.toMatch(/42|secret|acme/);
  });

  it('files unmatched URLs under one "unmatched" route', async () => {
    const t = new FakeTelemetry();
    const url = await startApp(t);
    for (const path of ['/nope', '/nope/2', '/orgs/acme/missing'])
      expect((await fetch(url + path)).status).toBe(404);
    await until(() => t.timings.length === 3, 'timings');
    for (const c of t.timings) expect(c.tags).toEqual({ method: 'GET', route: 'unmatched', status: '404' });
  });

  it('captures 5xx errors (thrown, async, from a prefixed child) with the route; not a validation 400', async () => {
    const t = new FakeTelemetry();
    const url = await startApp(t);
    expect((await fetch(`${url}/boom`)).status).toBe(500);
    expect((await fetch(`${url}/async-boom/1`)).status).toBe(500);
    expect((await fetch(`${url}/orgs/acme/projects/3/fail`)).status).toBe(503);
    const invalid = await fetch(`${url}/validated`, {
      method: 'POST',
      body: '{"nom":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(invalid.status).toBe(400);
    // Captured once the response is sent (its status known), which the client may see first.
    await until(() => t.captures.length === 3, 'captures');
    expect(t.captures.map((c) => [(c.error as Error).message, c.context?.tags])).toEqual([
      ['sync boom', { 'http.method': 'GET', 'http.route': '/boom', 'http.status': '500' }],
      ['async boom', { 'http.method': 'GET', 'http.route': '/async-boom/:n', 'http.status': '500' }],
      [
        'child boom',
        { 'http.method': 'GET', 'http.route': '/orgs/:org/projects/:pid/fail', 'http.status': '503' },
      ],
    ]);
    await until(() => t.timings.length === 4, 'timings');
    expect(t.timings.map((c) => c.tags?.['status'])).toEqual(['500', '500', '503', '400']);
  });

  it("captures by the status the app's error handler answered: a 400 it makes of an error is not a 500", async () => {
    const t = new FakeTelemetry();
    const app = Fastify();
    apps.push(app);
    await app.register(homingFastify, { telemetry: t });
    app.setErrorHandler((error: Error, _request, reply) => {
      if (error.message.startsWith('invalid')) return reply.code(400).send({ error: error.message });
      if (error.message.startsWith('busy')) return reply.code(503).send({ error: error.message });
      return reply.code(500).send({ error: 'internal' });
    });
    app.get('/invalid', async () => {
      throw new Error('invalid order id');
    });
    app.get('/busy', async () => {
      // Its own 400 made a 503 by the handler: the answer is what counts.
      throw Object.assign(new Error('busy database'), { statusCode: 400 });
    });
    app.get('/broken', async () => {
      throw new Error('broken');
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    expect((await fetch(`${url}/invalid`)).status).toBe(400);
    expect((await fetch(`${url}/busy`)).status).toBe(503);
    expect((await fetch(`${url}/broken`)).status).toBe(500);
    await until(() => t.timings.length === 3 && t.captures.length === 2, 'timings and captures');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.captures.map((c) => [(c.error as Error).message, c.context?.tags?.['http.status']])).toEqual([
      ['busy database', '503'],
      ['broken', '500'],
    ]);
    expect(t.timings.map((c) => c.tags?.['status'])).toEqual(['400', '503', '500']);
  });

  it('times a request whose client went away first as aborted, up to the abort, and once', async () => {
    const t = new FakeTelemetry();
    // Fastify writes nothing for an aborted request, so Node never ends its half-closed socket
    // and close() would wait for it ('idle' leaves it open: Node counts it busy).
    const app = Fastify({ forceCloseConnections: true });
    apps.push(app);
    await app.register(homingFastify, { telemetry: t });
    let answered = 0;
    const answer = async (): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      answered++;
    };
    app.get('/slow/:id', async () => {
      await answer();
      return { ok: true };
    });
    // Headers and a first chunk out, then the client leaves before the end.
    app.get('/stream', async (_request, reply) => {
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      reply.raw.write('first');
      await answer();
      reply.raw.end('last');
      return reply;
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    for (const path of ['/slow/7', '/stream']) {
      const controller = new AbortController();
      const response = fetch(url + path, { signal: controller.signal }).then((r) => r.text());
      setTimeout(() => controller.abort(), 80);
      await expect(response).rejects.toThrow(/abort/i);
    }
    await until(() => answered === 2, 'both handlers to finish after the aborts');
    // A normal request afterwards still times as before.
    expect(await (await fetch(`${url}/slow/8`)).json()).toEqual({ ok: true });
    await until(() => t.timings.length === 3, 'timings');
    expect(t.timings.map((c) => c.tags)).toEqual([
      { method: 'GET', route: '/slow/:id', status: 'aborted' },
      { method: 'GET', route: '/stream', status: 'aborted' },
      { method: 'GET', route: '/slow/:id', status: '200' },
    ]);
    // Timed to the abort (~80 ms after the fetch began), not to the handler's end (300 ms after
    // the server got the request). No lower bound beyond 0: on a loaded machine the request
    // reaches the server well after the fetch began, so the abort comes sooner after it (45 ms seen).
    for (const c of t.timings.slice(0, 2)) {
      expect(c.valueMs).toBeGreaterThan(0);
      expect(c.valueMs).toBeLessThan(300);
    }
    expect(t.timings[2]!.valueMs).toBeGreaterThanOrEqual(290);
    // Nothing more arrives once the aborted handlers have answered into closed sockets.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.timings).toHaveLength(3);
  });

  it('with timeAborted: false adds no request hooks and leaves aborted requests untimed', async () => {
    const t = new FakeTelemetry();
    const app = Fastify({ forceCloseConnections: true });
    apps.push(app);
    const hooks: string[] = [];
    const watched = new Proxy(app, {
      get: (target, name) =>
        name === 'addHook'
          ? (hook: string, fn: never) => {
              hooks.push(hook);
              return target.addHook(hook as never, fn);
            }
          : Reflect.get(target, name),
    });
    homingFastify(watched, { telemetry: t, timeAborted: false }, (error) => {
      if (error) throw error;
    });
    expect(hooks).toEqual(['onResponse', 'onError']);
    let answered = false;
    app.get('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answered = true;
      return 'late';
    });
    app.get('/fast', async () => 'ok');
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(fetch(`${url}/slow`, { signal: controller.signal }).then((r) => r.text())).rejects.toThrow(
      /abort/i,
    );
    await until(() => answered, 'the handler to finish');
    expect(await (await fetch(`${url}/fast`)).text()).toBe('ok');
    await until(() => t.timings.length === 1, 'timings');
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/fast', status: '200' });
  });

  it('applies to the routes of the app that registers it (skip-override), like fastify-plugin', async () => {
    const run = async (plugin: typeof homingFastify): Promise<FakeTelemetry> => {
      const t = new FakeTelemetry();
      const app = Fastify();
      apps.push(app);
      await app.register(plugin, { telemetry: t });
      // Added after the plugin's hooks: once it has seen both responses, so would they have.
      let responses = 0;
      app.addHook('onResponse', (_request, _reply, done) => {
        responses++;
        done();
      });
      app.get('/outside', async () => 'ok');
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      await (await fetch(`${url}/outside`)).text();
      await (await fetch(`${url}/users/1`)).text();
      await until(() => responses === 2, 'onResponse of both requests');
      return t;
    };
    const t = await run(homingFastify);
    expect(t.timings.map((c) => c.tags?.['route'])).toEqual(['/outside', 'unmatched']);
    // The same hooks in an encapsulated plugin (no skip-override) would see none of the app's routes.
    const encapsulated = await run((instance, options, done) => homingFastify(instance, options, done));
    expect(encapsulated.timings).toEqual([]);
  });

  it('honours statusTag, metric, skip, route and capture options', async () => {
    const t = new FakeTelemetry();
    const url = await startApp(t, {
      metric: 'api.latency',
      statusTag: 'class',
      skip: (request) => request.url === '/users/0',
      route: (request) => (request.url?.startsWith('/validated') ? 'validation' : undefined),
      shouldCapture: (_error, status) => status >= 400,
      includePath: true,
      includeQuery: true,
      includeBody: true,
    });
    await (await fetch(`${url}/users/0`)).text();
    await (await fetch(`${url}/users/1`)).text();
    await (
      await fetch(`${url}/validated?x=1`, {
        method: 'POST',
        body: '{"nom":1}',
        headers: { 'content-type': 'application/json' },
      })
    ).text();
    await until(() => t.timings.length === 2, 'timings');
    expect(t.timings.map((c) => [c.name, c.tags])).toEqual([
      ['api.latency', { method: 'GET', route: '/users/:id', status: '2xx' }],
      ['api.latency', { method: 'POST', route: 'validation', status: '4xx' }],
    ]);
    expect(t.captures).toHaveLength(1);
    expect(t.captures[0]!.context?.context).toEqual({
      request: {
        method: 'POST',
        route: 'validation',
        status: 400,
        path: '/validated',
        query: 'x=1',
        body: { nom: 1 },
      },
    });
  });
});

describe('bad input', () => {
  it('a telemetry object whose every method throws never breaks a request', async () => {
    const t = new ThrowingTelemetry();
    const url = await startApp(t);
    const ok = await fetch(`${url}/users/5`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: '5' });
    const failed = await fetch(`${url}/boom`);
    expect(failed.status).toBe(500);
    expect(((await failed.json()) as { message: string }).message).toBe('sync boom');
    await until(() => t.calls >= 3, 'telemetry calls');
    expect((await fetch(`${url}/users/6`)).status).toBe(200);
  });

  it('fails register (and so ready) with an error naming the option', async () => {
    const cases: [unknown, string][] = [
      [undefined, 'telemetry'],
      [{ telemetry: null }, 'telemetry'],
      [{}, 'telemetry'],
      [{ telemetry: { timing() {} } }, 'telemetry'],
      [{ telemetry: new FakeTelemetry(), metric: 7 }, 'metric'],
      [{ telemetry: new FakeTelemetry(), statusTag: 'x' }, 'statusTag'],
      [{ telemetry: new FakeTelemetry(), route: 'x' }, 'route'],
      [{ telemetry: new FakeTelemetry(), severity: 'bad' }, 'severity'],
      [{ telemetry: new FakeTelemetry(), includeHeaders: [1] }, 'includeHeaders'],
      [{ telemetry: new FakeTelemetry(), timeAborted: 'yes' }, 'timeAborted'],
      [{ telemetry: new FakeTelemetry(), timeAborted: null }, 'timeAborted'],
    ];
    for (const [options, option] of cases) {
      const app = Fastify();
      apps.push(app);
      app.register(homingFastify, options as HomingFastifyOptions);
      const error = await app.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, option).toBeInstanceOf(IntegrationOptionError);
      expect((error as IntegrationOptionError).option).toBe(option);
    }
  });
});
