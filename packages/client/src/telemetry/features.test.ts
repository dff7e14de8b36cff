import { describe, expect, it } from 'vitest';
import type { TelemetryClient } from './client.js';
import { createTelemetry } from '../index.node.js';
import { TelemetryOptionError } from './errors.js';
import { clientFor, Sink, sinkEvents, sinkForSuite, testPlatform, until } from './telemetry.test-helpers.js';

const PROCESS_EVENTS = [
  'uncaughtException',
  'uncaughtExceptionMonitor',
  'unhandledRejection',
  'newListener',
  'removeListener',
];
/** The listeners on `process` of the events the error feature hooks, by event. */
const processHooks = (): Record<string, number> =>
  Object.fromEntries(PROCESS_EVENTS.map((e) => [e, process.listenerCount(e)]));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('createTelemetry: telemetry features on the client', () => {
  let sink: Sink;
  const clients: TelemetryClient[] = [];
  const client = (...args: Parameters<typeof clientFor>): TelemetryClient => {
    const c = clientFor(...args);
    clients.push(c);
    return c;
  };

  sinkForSuite(clients, (s) => (sink = s));

  it('captureError sends a $exception through the pipeline (redacted), with breadcrumbs, and groups locally', async () => {
    const t = client(sink);
    t.addBreadcrumb({ category: 'ui', message: 'clicked save' });
    // The same bug (one throw site, volatile message parts) twice: one group.
    const ids = ['a@b.example', 'c@d.example'].map((who) =>
      t.captureError(new TypeError(`user ${who} failed`), { severity: 'warning', tags: { area: 'x' } }),
    );
    const id = ids[0]!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.getErrorGroups()).toHaveLength(1);
    expect(t.getErrorStats()?.totalErrors).toBe(2);
    expect(t.getErrorStats()?.suppressed).toBe(1);
    t.trackRecovery(id, true, { strategy: 'retry', attempts: 2 });
    await t.flush({ timeoutMs: 10_000 });
    const events = sinkEvents(sink);
    const exception = events.find((e) => e.event === '$exception')!;
    expect(exception.properties['$exception_type']).toBe('TypeError');
    expect(JSON.stringify(exception)).not.toContain('a@b.example');
    expect(JSON.stringify(exception.properties['$breadcrumbs'] ?? exception.properties)).toContain(
      'clicked save',
    );
    expect(events.some((e) => e.event === '$exception_recovery')).toBe(true);
  });

  it('timings are aggregated and sent as summaries when the client shuts down', async () => {
    const t = clientFor(sink);
    for (let i = 1; i <= 100; i++) t.timing('db.query', i, { table: 'users' });
    expect(t.getSummary('db.query', { table: 'users' })?.count).toBe(100);
    t.trackOperation({ name: 'ai.call', durationMs: 120, tokens: 800 });
    await t.shutdown({ timeoutMs: 10_000 });
    const summaries = sinkEvents(sink).filter((e) => e.event === '$metric_summary');
    expect(summaries.length).toBeGreaterThan(0);
    expect(JSON.stringify(summaries)).toContain('db.query');
  });

  it('usage calls track adoption, conversations and providers', async () => {
    const t = client(sink);
    expect(t.trackFeature('export', 'used', { userId: 'u1' })).toBe(true);
    const conversation = t.startConversation();
    expect(typeof conversation).toBe('string');
    expect(t.trackMessage(conversation!, { role: 'user', tokens: 12 })).toBe(true);
    expect(t.endConversation(conversation!, 'completed')).toBe(true);
    expect(t.trackProviderRequest('openai', 420, true, 900)).toBe(true);
    expect(t.usage?.getStats()).toBeDefined();
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).length).toBeGreaterThanOrEqual(4);
  });

  it('health: a registered service is checked and reported; $health goes out on a change', async () => {
    const t = client(sink);
    let ok = false;
    t.registerService('db', async () => ({ ok }), {
      critical: true,
      failureThreshold: 1,
      recoveryThreshold: 1,
    });
    await until(async () => (await t.getHealthReport({ refresh: true }))?.status === 'unhealthy');
    expect(t.isHealthy()).toBe(false);
    ok = true;
    await until(async () => (await t.getHealthReport({ refresh: true }))?.status === 'healthy');
    expect(t.isHealthy()).toBe(true);
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).some((e) => e.event === '$health')).toBe(true);
  });

  it("$homing_delivery reports the client's own delivery without any health check, unless turned off", async () => {
    const t = client(sink, { deliveryReport: { intervalMs: 30 } });
    for (let i = 0; i < 5; i++) t.track('work', { i });
    await until(async () => {
      await t.flush({ timeoutMs: 5_000 });
      return sinkEvents(sink).some((e) => e.event === '$homing_delivery');
    });
    const report = sinkEvents(sink).find((e) => e.event === '$homing_delivery')!;
    expect(report.properties.tracked).toBeGreaterThanOrEqual(5);
    expect(report.properties.delta).toMatchObject({ dropped: { overflow: 0 } });
    expect(report.properties.dropped).toBeTypeOf('object');
    const off = client(sink, { deliveryReport: false });
    off.track('work');
    expect(await off.sendDeliveryReport()).toBe(false);
    // 0 stops the timer only: the report is still sent on demand.
    const onDemand = client(sink, { deliveryReport: { intervalMs: 0 } });
    onDemand.track('on-demand');
    expect(await onDemand.sendDeliveryReport()).toBe(true);
    expect(() => clientFor(sink, { deliveryReport: { intervalMs: -5 } })).toThrow(
      /deliveryReport.intervalMs/,
    );
  });

  it('$homing_delivery goes quiet when its own report is sampled out, filtered out by beforeSend, or consent is not granted', async () => {
    const cases: [string, Parameters<typeof clientFor>[1]][] = [
      ['never', { sampling: { rules: { $homing_delivery: { kind: 'never' } } } }],
      ['beforeSend', { beforeSend: (e) => (e.event === '$homing_delivery' ? null : e) }],
      ['denied', { consent: 'denied' }],
      ['pending', { consent: 'pending' }],
    ];
    const seen: unknown[] = [];
    for (const [name, options] of cases) {
      const t = client(sink, { ...options, rememberConsent: false, deliveryReport: { intervalMs: 25 } });
      t.track('app.start');
      // Each report dropped or held made the next interval look busy: one every interval, without end.
      await sleep(600);
      const s = await t.stats();
      seen.push([
        name,
        s.tracked,
        s.queue?.events,
        s.dropped.sampling + s.dropped.rejected + s.dropped.consent,
      ]);
    }
    // The app's event, and the one report it asked for where consent allows one.
    expect(seen).toEqual([
      ['never', 2, 0, 1],
      ['beforeSend', 2, 0, 1],
      ['denied', 1, 0, 1],
      ['pending', 1, 1, 0],
    ]);
  });

  it('a feature turned off does nothing and says so', async () => {
    const t = client(sink, { errors: false, performance: false, usage: false, health: false });
    expect(t.captureError(new Error('x'))).toBe('');
    t.timing('x', 1);
    expect(t.getSummary('x')).toBeUndefined();
    expect(t.trackFeature('f', 'used')).toBe(false);
    expect(t.isHealthy()).toBe(true);
    expect(t.errors).toBeUndefined();
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink)).toEqual([]);
  });

  it('feature calls on a disabled client (DO_NOT_TRACK) send nothing and never throw', async () => {
    const t = client(sink, { errors: { captureUnhandled: true } }, { DO_NOT_TRACK: '1' });
    expect(() => t.captureError(new Error('x'))).not.toThrow();
    t.timing('x', 1);
    expect((await t.stats()).enabled).toBe(false);
    await t.flush({ timeoutMs: 1_000 });
    expect(sink.requests).toEqual([]);
  });

  it('a disabled client installs no global hook, even on feature calls, which answer as if each feature were off', async () => {
    const [log, fetch] = [console.log, globalThis.fetch];
    const before = processHooks();
    const t = client(
      sink,
      {
        errors: { captureUnhandled: true, consoleBreadcrumbs: true, fetchBreadcrumbs: true },
        performance: {},
        usage: {},
        health: {},
      },
      { DO_NOT_TRACK: '1' },
    );
    t.addBreadcrumb({ category: 'ui', message: 'clicked' });
    const id = t.captureError(new Error('x'));
    expect(processHooks()).toEqual(before);
    expect(console.log).toBe(log);
    expect(globalThis.fetch).toBe(fetch);
    expect(id).toBe('');
    t.trackRecovery('some-id', true);
    expect(t.getBreadcrumbs()).toEqual([]);
    expect(t.getErrorGroups()).toEqual([]);
    expect(t.getErrorStats()).toBeUndefined();
    expect(t.mark('a')).toBeUndefined();
    expect(t.measure('a-b', 'a')).toBeUndefined();
    t.timing('x', 1);
    t.trackOperation({ name: 'op', durationMs: 3 });
    expect(t.getSummary('x')).toBeUndefined();
    expect(t.trackFeature('f', 'used')).toBe(false);
    expect(t.startConversation()).toBeUndefined();
    expect(t.suggestionShown('s')).toBe(false);
    let runs = 0;
    const watched = t.registerService('db', async () => ({ ok: (runs++, true) }), { intervalMs: 20 });
    expect(typeof watched.dispose).toBe('function');
    expect(await t.getHealthReport({ refresh: true })).toBeUndefined();
    expect(t.isHealthy()).toBe(true);
    expect(await t.sendDeliveryReport()).toBe(false);
    expect([t.errors, t.performance, t.usage, t.health]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(processHooks()).toEqual(before);
    expect(console.log).toBe(log);
    expect(globalThis.fetch).toBe(fetch);
    await sleep(100);
    expect(runs).toBe(0);
  });

  it.each([
    ['made on first use', {}],
    ['configured, so made with the client', { errors: {}, performance: {}, usage: {}, health: {} }],
  ])(
    'after shutdown, features %s make nothing and start nothing; their calls are no-ops that never throw',
    async (_, features) => {
      const t = client(sink, { ...features, deliveryReport: false });
      await t.shutdown({ timeoutMs: 2_000 });
      const before = processHooks();
      let runs = 0;
      let watched: { dispose(): void } | undefined;
      expect(() => {
        watched = t.registerService('db', async () => ({ ok: (runs++, true) }), { intervalMs: 20 });
      }).not.toThrow();
      expect(typeof watched?.dispose).toBe('function');
      // The registration after shutdown was not kept, and no check was run for the report.
      const report = await t.getHealthReport({ refresh: true });
      if ('health' in features) expect(report?.checks).toEqual({});
      else expect(report).toBeUndefined();
      expect(typeof t.captureError(new Error('late'))).toBe('string');
      t.addBreadcrumb({ category: 'ui', message: 'late' });
      t.timing('late', 5);
      expect(t.mark('late')).toBeUndefined();
      expect(t.getSummary('late')).toBeUndefined();
      expect(t.trackFeature('f', 'used')).toBe(false);
      expect(t.startConversation()).toBeUndefined();
      if (!('errors' in features)) {
        expect([t.errors, t.performance, t.usage, t.health]).toEqual([
          undefined,
          undefined,
          undefined,
          undefined,
        ]);
      }
      expect(processHooks()).toEqual(before);
      await sleep(150);
      expect(runs).toBe(0);
      expect(sink.requests).toEqual([]);
    },
  );

  it('a CLI that ends without shutdown: the exit hook sends the pending duplicate counts too', async () => {
    const platform = testPlatform();
    const t = client(sink, { platform });
    // One throw site five times: one $exception, four counted in its dedup window.
    for (let i = 0; i < 5; i++) t.captureError(new Error(`boom ${i}`));
    t.timing('step', 5);
    await platform.exit();
    await until(() => sinkEvents(sink).some((e) => e.event === '$metric_summary'));
    const sent = sinkEvents(sink);
    expect(sent.filter((e) => e.event === '$exception')).toHaveLength(1);
    expect(
      sent.filter((e) => e.event === '$exception_duplicates').map((e) => e.properties.$exception_suppressed),
    ).toEqual([4]);
  });

  it("a feature's bad option is the documented TelemetryOptionError, named by its whole path, its own error the cause", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ errors: { maxBreadcrumbs: -1 } }, 'errors.maxBreadcrumbs', /ErrorTrackingOptionError/],
      [{ errors: 5 }, 'errors', /ErrorTrackingOptionError/],
      [{ performance: { flushIntervalMs: 'soon' } }, 'performance.flushIntervalMs', /PerformanceOptionError/],
      [{ usage: { bogus: 1 } }, 'usage.bogus', /UsageOptionError/],
      [{ health: { intervalMs: -1 } }, 'health.intervalMs', /HealthOptionError/],
      [{ deliveryReport: { intervalMs: -5 } }, 'deliveryReport.intervalMs', /HealthOptionError/],
      [
        { redaction: { patterns: { nope: false } } },
        'redaction.patterns.nope',
        /PatternRedactionOptionError/,
      ],
      [
        { redaction: { patterns: { maxDepth: 0 } } },
        'redaction.patterns.maxDepth',
        /PatternRedactionOptionError/,
      ],
    ];
    // The disabled client (DO_NOT_TRACK on a developer's machine) makes no feature, and finds the same mistakes.
    for (const [[options, path, causeName], env] of cases.flatMap((c) => [
      [c, {}],
      [c, { HOMING_DISABLED: '1' }],
    ]) as [(typeof cases)[number], Record<string, string>][]) {
      let caught: unknown;
      try {
        clientFor(sink, options as never, env);
      } catch (error) {
        caught = error;
      }
      expect(caught, `${path} ${JSON.stringify(env)}`).toBeInstanceOf(TelemetryOptionError);
      const e = caught as TelemetryOptionError;
      expect(e.option).toBe(path);
      expect(e.message).toMatch(new RegExp(`^Invalid telemetry option "${path.replace(/\./g, '\\.')}": `));
      // Said once: the health monitor's reason used to repeat its own prefix.
      expect(e.message.match(/Invalid/g)).toHaveLength(1);
      expect((e.cause as Error).name).toMatch(causeName);
    }
  });

  it('bad feature options throw at creation, naming the option; bad calls never throw', () => {
    expect(() => clientFor(sink, { errors: { maxBreadcrumbs: -1 } })).toThrow(/maxBreadcrumbs/);
    expect(() => clientFor(sink, { performance: { flushIntervalMs: 'soon' as never } })).toThrow(
      /flushIntervalMs/,
    );
    expect(() => clientFor(sink, { nope: 1 } as never)).toThrow(TelemetryOptionError);
    const t = client(sink);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => t.captureError(cyclic)).not.toThrow();
    expect(() => t.timing(42 as never, Number.NaN)).not.toThrow();
    expect(() => t.trackFeature(null as never, undefined as never)).not.toThrow();
    expect(() => t.addBreadcrumb(undefined as never)).not.toThrow();
  });

  it('a createTelemetry refused for a feature option leaves nothing running (no exit hook, no timer)', async () => {
    const hooks = (): number => process.listenerCount('beforeExit') + process.listenerCount('exit');
    const before = hooks();
    for (let i = 0; i < 5; i++) {
      expect(() =>
        createTelemetry({
          endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
          storage: 'memory',
          performance: 5 as never,
        }),
      ).toThrow(/performance/);
    }
    await until(() => hooks() === before, 5_000, 'the exit hooks of the refused clients removed');
  });

  it('shutdown with a bad timeout rejects and changes nothing: features still record, a good shutdown still flushes', async () => {
    const t = client(sink);
    t.timing('before', 5);
    await expect(t.shutdown({ timeoutMs: -1 })).rejects.toThrow(TelemetryOptionError);
    t.timing('before', 7);
    expect(t.getSummary('before')?.count).toBe(2);
    await t.shutdown({ timeoutMs: 5_000 });
    const summary = sinkEvents(sink).find(
      (e) => e.event === '$metric_summary' && e.properties.metric === 'before',
    );
    expect(summary?.properties.count).toBe(2);
  });
});
