/**
 * What is particular to `instrumentExpress` (the behaviours it shares with the middleware, such
 * as route patterns, statuses, aborted requests and errors, are tested for both in
 * express.test.ts): no router layer, `close()`, `skip` on Express's request, sub-apps, set-up.
 */
import { createServer } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrationOptionError } from './errors.js';
import { homingExpressErrorHandler } from './express.js';
import { instrumentExpress } from './instrumentExpress.js';
import { FakeTelemetry, listen, until } from './integrations.test-helpers.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function serve(app: express.Express): Promise<string> {
  const { url, close } = await listen(createServer(app));
  closers.push(close);
  return url;
}

function withRoutes(app: express.Express): express.Express {
  app.get('/users/:id', (_req, res) => {
    res.send('user');
  });
  app.get('/health', (_req, res) => {
    res.send('ok');
  });
  return app;
}

/** Express's `app.handle`, which its types leave out. */
const handleOf = (app: express.Express): unknown => (app as unknown as { handle: unknown }).handle;

/** Lets responses already answered close, so a timing that should not come has had its chance. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe('instrumentExpress (real Express app on 127.0.0.1)', () => {
  it("times requests without adding a layer to the app's router", async () => {
    const t = new FakeTelemetry();
    const app = express();
    instrumentExpress(app, t);
    withRoutes(app);
    const url = await serve(app);
    // The routes only: Express 5 has no built-in layers, and the instrumentation added none.
    expect(app.router.stack.map((layer: { route?: { path: string } }) => layer.route?.path)).toEqual([
      '/users/:id',
      '/health',
    ]);
    await (await fetch(`${url}/users/5?q=secret`)).text();
    await until(() => t.timings.length === 1, 'timing');
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
  });

  it("close() stops timing and puts Express's own app.handle back", async () => {
    const t = new FakeTelemetry();
    const app = express();
    const own = handleOf(app);
    const instrumentation = instrumentExpress(app, t);
    expect(handleOf(app)).not.toBe(own);
    const url = await serve(withRoutes(app));
    await (await fetch(`${url}/users/1`)).text();
    await until(() => t.timings.length === 1, 'timing');
    instrumentation.close();
    instrumentation.close();
    expect(handleOf(app)).toBe(own);
    expect(Object.hasOwn(app, 'handle')).toBe(true);
    await (await fetch(`${url}/users/2`)).text();
    await settle();
    expect(t.timings).toHaveLength(1);
  });

  it('instrumented twice, times each request once; closing either leaves the other timing', async () => {
    const first = new FakeTelemetry();
    const second = new FakeTelemetry();
    const app = express();
    const own = handleOf(app);
    const a = instrumentExpress(app, first);
    const b = instrumentExpress(app, second, { metric: 'second' });
    const url = await serve(withRoutes(app));
    await (await fetch(`${url}/users/1`)).text();
    await until(() => second.timings.length === 1, 'timing');
    a.close();
    await (await fetch(`${url}/users/2`)).text();
    await until(() => second.timings.length === 2, 'timing after the first closed');
    b.close();
    await (await fetch(`${url}/users/3`)).text();
    await settle();
    expect(first.timings).toHaveLength(0);
    expect(second.timings.map((c) => c.name)).toEqual(['second', 'second']);
    // The first's wrapper stays under the second's, inert: nothing else is put back over others.
    expect(handleOf(app)).not.toBe(own);
  });

  it("asks skip(req) when the request arrives, with Express's request (req.path, req.get)", async () => {
    const t = new FakeTelemetry();
    const app = express();
    const seen: string[] = [];
    instrumentExpress(app, t, {
      skip: (req) => {
        const r = req as express.Request;
        seen.push(`${r.path} ${String(r.get('x-probe'))}`);
        return r.path === '/health';
      },
    });
    const url = await serve(withRoutes(app));
    await (await fetch(`${url}/health?verbose=1`, { headers: { 'x-probe': 'lb' } })).text();
    await (await fetch(`${url}/users/1`)).text();
    await until(() => t.timings.length === 1, 'timing');
    await settle();
    expect(seen).toEqual(['/health lb', '/users/1 undefined']);
    expect(t.timings.map((c) => c.tags?.['route'])).toEqual(['/users/:id']);
  });

  it('times an instrumented sub-app mounted in a plain app, with the mount path; once when both are', async () => {
    const sub = new FakeTelemetry();
    const shop = express();
    shop.get('/items/:id', (_req, res) => {
      res.send('item');
    });
    instrumentExpress(shop, sub);
    const plain = express();
    plain.use('/shop', shop);
    const plainUrl = await serve(plain);
    await (await fetch(`${plainUrl}/shop/items/3`)).text();
    await until(() => sub.timings.length === 1, 'sub-app timing');
    expect(sub.timings[0]!.tags).toEqual({ method: 'GET', route: '/shop/items/:id', status: '200' });

    const parent = new FakeTelemetry();
    const outer = express();
    instrumentExpress(outer, parent);
    outer.use('/store', shop);
    const outerUrl = await serve(outer);
    await (await fetch(`${outerUrl}/store/items/4`)).text();
    await until(() => parent.timings.length === 1, 'parent timing');
    await settle();
    expect(parent.timings[0]!.tags).toEqual({ method: 'GET', route: '/store/items/:id', status: '200' });
    expect(sub.timings).toHaveLength(1);
  });

  it("names an error's route for the error handler, in a router mounted on a parameterised path", async () => {
    const t = new FakeTelemetry();
    const app = express();
    instrumentExpress(app, t);
    const router = express.Router();
    router.get('/projects/:pid', () => {
      throw new Error('boom');
    });
    app.use('/orgs/:org', router);
    app.use(homingExpressErrorHandler(t));
    const url = await serve(app);
    expect((await fetch(`${url}/orgs/acme/projects/9`)).status).toBe(500);
    expect(t.captures.map((c) => c.context?.tags?.['http.route'])).toEqual(['/orgs/:org/projects/:pid']);
    await until(() => t.timings.length === 1, 'timing');
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/orgs/:org/projects/:pid', status: '500' });
  });

  it("calls the telemetry's timing as its method on every request: replaced, throwing or gone, requests go on", async () => {
    const t = new FakeTelemetry();
    const app = express();
    instrumentExpress(app, t);
    withRoutes(app);
    const url = await serve(app);
    const seen: { self: unknown; route: unknown }[] = [];
    t.timing = function (this: unknown, _name, _ms, tags) {
      seen.push({ self: this, route: tags?.['route'] });
    };
    expect((await fetch(`${url}/users/1`)).status).toBe(200);
    await until(() => seen.length === 1, 'timing through the replaced method');
    expect(seen[0]).toEqual({ self: t, route: '/users/:id' });
    t.timing = () => {
      throw new Error('timing exploded');
    };
    expect((await fetch(`${url}/users/2`)).status).toBe(200);
    (t as { timing?: unknown }).timing = undefined;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await settle();
    t.timing = FakeTelemetry.prototype.timing;
    expect((await fetch(`${url}/users/3`)).status).toBe(200);
    await until(() => t.timings.length === 1, 'timing once the method is back');
    expect(t.timings[0]!.tags).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
  });

  it('refuses what is not an Express app, and wrong telemetry or options, at set-up', () => {
    const cases: [() => unknown, string][] = [
      [() => instrumentExpress(null as never, new FakeTelemetry()), 'app'],
      [() => instrumentExpress(express.Router() as never, new FakeTelemetry()), 'app'],
      [() => instrumentExpress((() => {}) as never, new FakeTelemetry()), 'app'],
      [() => instrumentExpress(express(), {} as never), 'telemetry'],
      [() => instrumentExpress(express(), new FakeTelemetry(), { statusTag: 'x' as never }), 'statusTag'],
      [() => instrumentExpress(express(), new FakeTelemetry(), { route: 'x' as never }), 'route'],
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
