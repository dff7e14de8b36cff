/**
 * The integrations on the real thing: `createTelemetry` (memory outbox, a custom destination),
 * with the error and performance trackers on its feature host, behind a real Express app and
 * the fetch wrapper. What arrives at the destination is what a user would see.
 */
import { createServer } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { HomingEvent } from '../event.js';
import { createErrorTracker } from '../features/errors/createErrorTracker.js';
import { createPerformanceTracker } from '../features/performance/PerformanceTracker.js';
import { createTelemetry } from '../index.node.js';
import { homingExpress, homingExpressErrorHandler } from './express.js';
import { instrumentExpress } from './instrumentExpress.js';
import { wrapFetch } from './fetch.js';
import { listen } from './integrations.test-helpers.js';
import type { TelemetryLike } from './telemetryLike.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function realTelemetry(): { telemetry: TelemetryLike; received: HomingEvent[]; flush(): Promise<void> } {
  const received: HomingEvent[] = [];
  const client = createTelemetry({
    endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
    storage: 'memory',
    distinctId: 'integration-test',
  });
  const host = client.featureHost();
  const errors = createErrorTracker(host, { dedupWindowMs: 0 });
  const performance = createPerformanceTracker(host, { flushIntervalMs: 0, runtime: 'off' });
  cleanups.push(() => client.shutdown({ timeoutMs: 2000 }));
  cleanups.push(() => performance.close());
  cleanups.push(() => errors.close());
  const telemetry: TelemetryLike = {
    captureError: (error, context) => errors.captureError(error, context),
    addBreadcrumb: (crumb) => errors.addBreadcrumb(crumb),
    timing: (name, ms, tags) => performance.timing(name, ms, tags),
    track: (event, properties) => client.track(event, properties),
  };
  return {
    telemetry,
    received,
    flush: async () => {
      performance.flush();
      await client.flush({ timeoutMs: 10_000 });
    },
  };
}

describe('integrations with the real client', () => {
  it.each([
    ['instrumentExpress', (app: express.Express, t: TelemetryLike) => void instrumentExpress(app, t)],
    [
      'the homingExpress middleware',
      (app: express.Express, t: TelemetryLike) => void app.use(homingExpress(t)),
    ],
  ])(
    'Express timings (%s) arrive as $metric_summary per route, errors as $exception with the request tags',
    async (_name, timeApp) => {
      const { telemetry, received, flush } = realTelemetry();
      const app = express();
      timeApp(app, telemetry);
      app.get('/users/:id', (_req, res) => {
        res.send('ok');
      });
      app.get('/boom', () => {
        throw new TypeError('cannot read the thing');
      });
      app.use(homingExpressErrorHandler(telemetry));
      const { url, close } = await listen(createServer(app));
      cleanups.push(close);
      for (const id of [1, 2, 3]) expect((await fetch(`${url}/users/${id}`)).status).toBe(200);
      expect((await fetch(`${url}/boom`)).status).toBe(500);
      // The timing is recorded on the response's close, just after the client has the answer.
      const deadline = Date.now() + 15_000;
      let summaries: HomingEvent[] = [];
      while (Date.now() < deadline) {
        await flush();
        summaries = received.filter((e) => e.event === '$metric_summary');
        const counted = summaries.reduce((n, e) => n + Number(e.properties['count']), 0);
        if (counted >= 4) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const byRoute = Object.fromEntries(
        summaries.map((e) => [(e.properties['tags'] as Record<string, string>)['route'], e.properties]),
      );
      expect(byRoute['/users/:id']).toMatchObject({
        metric: 'http.server.duration',
        tags: { method: 'GET', route: '/users/:id', status: '200' },
        count: 3,
        unit: 'ms',
      });
      expect(byRoute['/boom']).toMatchObject({ count: 1, tags: { status: '500' } });
      const exception = received.find((e) => e.event === '$exception');
      expect(exception?.properties).toMatchObject({
        $exception_type: 'TypeError',
        $exception_message: 'cannot read the thing',
        $exception_tags: { 'http.method': 'GET', 'http.route': '/boom', 'http.status': '500' },
        $exception_context: { request: { method: 'GET', route: '/boom', status: 500 } },
      });
    },
  );

  it('fetch breadcrumbs are attached to the next captured error; timings summarised per host', async () => {
    const { telemetry, received, flush } = realTelemetry();
    const server = createServer((_req, res) => res.writeHead(502).end());
    const { url, close } = await listen(server);
    cleanups.push(close);
    const f = wrapFetch(telemetry);
    expect((await f(`${url}/upstream/7?key=secret`)).status).toBe(502);
    telemetry.captureError(new Error('upstream failed'));
    await flush();
    const exception = received.find((e) => e.event === '$exception')!;
    expect(exception.properties['$exception_breadcrumbs']).toEqual([
      expect.objectContaining({
        category: 'fetch',
        level: 'error',
        message: `GET ${url}/upstream/7 502`,
        data: expect.objectContaining({ method: 'GET', url: `${url}/upstream/7`, status: 502 }),
      }),
    ]);
    const summary = received.find((e) => e.event === '$metric_summary')!;
    expect(summary.properties).toMatchObject({
      metric: 'http.client.duration',
      tags: { method: 'GET', host: new URL(url).host, status: '502' },
      count: 1,
    });
    expect(JSON.stringify(received)).not.toContain('secret');
  });
});
