import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeHost } from '../performance/fakeHost.test-helpers.js';
import { HealthOptionError } from './errors.js';
import { createHealthReporter } from './HealthReporter.js';
import type { HealthReporter } from './HealthReporter.js';
import type { HealthReporterOptions } from './healthOptions.js';

const open: HealthReporter[] = [];
function reporter(options: HealthReporterOptions = {}, host = fakeHost()) {
  const r = createHealthReporter(host, { heartbeatIntervalMs: 0, ...options });
  open.push(r);
  return { r, host };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('HealthReporter: status and $health changes', () => {
  it('reports a healthy service and sends the change of the service, then of the whole', async () => {
    const { r, host } = reporter();
    r.registerService('db', () => true);
    const report = await r.getHealthReport({ refresh: true });
    expect(report.status).toBe('healthy');
    expect(report.checks.db).toMatchObject({ status: 'healthy', critical: true, consecutiveFailures: 0 });
    expect(report.uptimeMs).toBe(0);
    expect(r.isHealthy()).toBe(true);
    const changes = host.named('$health').filter((e) => e.$kind === 'change');
    expect(changes.at(-2)).toMatchObject({
      scope: 'service',
      service: 'db',
      previous: 'unknown',
      current: 'healthy',
    });
    expect(changes.at(-1)).toMatchObject({
      scope: 'aggregate',
      current: 'healthy',
      services: { db: { status: 'healthy', critical: true, consecutive_failures: 0 } },
    });
  });

  it('turns unhealthy after failureThreshold failures and recovers after recoveryThreshold successes', async () => {
    let up = false;
    const { r, host } = reporter({ failureThreshold: 2, recoveryThreshold: 2, autoStart: false });
    r.registerService('api', () => {
      if (!up) throw new Error('ECONNREFUSED');
      return true;
    });
    await r.getHealthReport({ refresh: true });
    expect(r.status).toBe('unknown');
    const report = await r.getHealthReport({ refresh: true });
    expect(report.checks.api).toMatchObject({ status: 'unhealthy', consecutiveFailures: 2 });
    expect(r.isHealthy()).toBe(false);
    expect(
      host.named('$health').find((e) => e.scope === 'service' && e.current === 'unhealthy'),
    ).toMatchObject({
      service: 'api',
      error: 'Error: ECONNREFUSED',
      status: 'unhealthy',
    });
    up = true;
    await r.getHealthReport({ refresh: true });
    expect(r.status).toBe('unhealthy');
    await r.getHealthReport({ refresh: true });
    expect(r.status).toBe('healthy');
    const aggregate = host
      .named('$health')
      .filter((e) => e.scope === 'aggregate')
      .map((e) => e.current);
    expect(aggregate).toEqual(['unknown', 'unhealthy', 'healthy']);
  });

  it('a failing non-critical service makes the whole degraded, not unhealthy', async () => {
    const { r } = reporter({ failureThreshold: 1 });
    r.registerService('db', () => true);
    r.registerService('cache', () => false, { critical: false });
    const report = await r.getHealthReport({ refresh: true });
    expect(report.status).toBe('degraded');
    expect(report.checks.cache?.status).toBe('unhealthy');
    expect(r.isHealthy()).toBe(false);
  });

  it("accepts design 003's { status } results", async () => {
    const { r } = reporter({ failureThreshold: 1 });
    r.registerService('a', async () => ({ status: 'healthy', responseTime: 100 }));
    r.registerService('b', async () => ({ status: 'degraded', message: 'slow' }));
    r.registerService('c', async () => ({ status: 'unhealthy', message: 'down' }));
    r.registerService('d', async () => ({ status: 'sideways' }) as never);
    const { checks } = await r.getHealthReport({ refresh: true });
    expect(checks.a).toMatchObject({ status: 'healthy', details: { responseTime: 100 } });
    expect(checks.b?.status).toBe('degraded');
    expect(checks.c).toMatchObject({ status: 'unhealthy', lastError: 'down' });
    expect(checks.d).toMatchObject({ status: 'unhealthy' });
    expect(checks.d?.lastError).toContain('sideways');
  });

  it('fails a check that runs past timeoutMs, and an HTTP check answering 503', async () => {
    const server = createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { r } = reporter({ failureThreshold: 1 });
      r.registerService('hangs', () => new Promise(() => {}), { timeoutMs: 20 });
      r.registerService('http', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health` });
      const { checks } = await r.getHealthReport({ refresh: true });
      expect(checks.hangs?.status).toBe('unhealthy');
      expect(checks.http?.status).toBe('unhealthy');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('runs checks at creation, or only after start() with autoStart false', async () => {
    const calls = vi.fn(() => true);
    const { r } = reporter({ autoStart: false });
    r.registerService('a', calls);
    await Promise.resolve();
    expect(calls).not.toHaveBeenCalled();
    r.start();
    await vi.waitFor(() => expect(r.status).toBe('healthy'));
    const auto = reporter();
    const other = vi.fn(() => true);
    auto.r.registerService('b', other);
    await vi.waitFor(() => expect(auto.r.status).toBe('healthy'));
    expect(other).toHaveBeenCalled();
  });

  it('intervalMs 0 checks a service once, then only when a refreshed report asks', async () => {
    const calls = vi.fn(() => true);
    const { r } = reporter({ intervalMs: 0 });
    r.registerService('a', calls);
    await vi.waitFor(() => expect(r.status).toBe('healthy'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toHaveBeenCalledTimes(1);
    await r.getHealthReport({ refresh: true });
    expect(calls).toHaveBeenCalledTimes(2);
  });

  it('unregisters a service and forgets it', async () => {
    const { r } = reporter({ failureThreshold: 1 });
    const handle = r.registerService('bad', () => false);
    r.registerService('good', () => true);
    await r.getHealthReport({ refresh: true });
    expect(r.status).toBe('unhealthy');
    handle.dispose();
    expect(r.unregisterService('bad')).toBe(false);
    expect(r.status).toBe('healthy');
  });
});

describe('HealthReporter: heartbeat and $homing_delivery', () => {
  it('sends a heartbeat every heartbeatIntervalMs, none when it is 0', async () => {
    vi.useFakeTimers();
    const host = fakeHost();
    const { r } = reporter({ heartbeatIntervalMs: 60_000 }, host);
    r.registerService('db', () => true);
    await r.getHealthReport({ refresh: true });
    host.clock.now += 60_000;
    vi.advanceTimersByTime(60_000);
    const beats = host.named('$health').filter((e) => e.$kind === 'heartbeat');
    expect(beats).toEqual([
      {
        $kind: 'heartbeat',
        status: 'healthy',
        uptime_ms: 60_000,
        services: { db: expect.objectContaining({ status: 'healthy', critical: true }) },
      },
    ]);
    vi.advanceTimersByTime(120_000);
    expect(host.named('$health').filter((e) => e.$kind === 'heartbeat')).toHaveLength(3);
    const quiet = reporter({ heartbeatIntervalMs: 0 });
    vi.advanceTimersByTime(10 * 60_000);
    expect(quiet.host.named('$health')).toHaveLength(0);
  });

  it('sends $homing_delivery from the stats getter, with what grew since the last one', async () => {
    vi.useFakeTimers();
    const stats = {
      sent: 10,
      deadLettered: 0,
      queued: 5,
      dropped: { overflow: 1, consent: 0 },
      breakers: { a: { state: 'open' } },
    };
    const { host } = reporter({ deliveryStats: () => stats, deliveryIntervalMs: 30_000 });
    await vi.advanceTimersByTimeAsync(30_000);
    stats.sent = 25;
    stats.dropped = { overflow: 4, consent: 0 };
    await vi.advanceTimersByTimeAsync(30_000);
    const sent = host.named('$homing_delivery');
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({
      sent: 10,
      queued: 5,
      breakers: { a: { state: 'open' } },
      delta: { sent: 10, dropped: { overflow: 1, consent: 0 } },
    });
    expect(sent[1]).toMatchObject({
      sent: 25,
      delta: { sent: 15, deadLettered: 0, dropped: { overflow: 3, consent: 0 } },
    });
  });

  it('skips a report when the stats getter throws or answers junk, and keeps going', async () => {
    let mode: 'throw' | 'junk' | 'ok' = 'throw';
    const { r, host } = reporter({
      deliveryStats: () => {
        if (mode === 'throw') throw new Error('outbox closed');
        return (mode === 'junk' ? 42 : { sent: 1 }) as never;
      },
      deliveryIntervalMs: 0,
    });
    expect(await r.sendDeliveryReport()).toBe(false);
    mode = 'junk';
    expect(await r.sendDeliveryReport()).toBe(false);
    mode = 'ok';
    expect(await r.sendDeliveryReport()).toBe(true);
    expect(host.named('$homing_delivery')).toEqual([{ sent: 1, delta: { sent: 1 } }]);
    expect(host.debug.length).toBe(2);
    expect(await reporter().r.sendDeliveryReport()).toBe(false);
  });

  it("takes an async stats getter (like the client's stats()) and its rejection", async () => {
    let fail = false;
    const { r, host } = reporter({
      deliveryStats: async () => {
        if (fail) throw new Error('closed');
        return { sent: 7, dropped: { overflow: 2 } };
      },
      deliveryIntervalMs: 0,
    });
    expect(await r.sendDeliveryReport()).toBe(true);
    fail = true;
    expect(await r.sendDeliveryReport()).toBe(false);
    expect(host.named('$homing_delivery')).toEqual([
      { sent: 7, dropped: { overflow: 2 }, delta: { sent: 7, dropped: { overflow: 2 } } },
    ]);
  });

  it('close stops timers and checks; a closed reporter refuses registrations', async () => {
    vi.useFakeTimers();
    const check = vi.fn(() => true);
    const { r, host } = reporter({
      heartbeatIntervalMs: 1000,
      deliveryStats: () => ({ sent: 1 }),
      deliveryIntervalMs: 1000,
      intervalMs: 1000,
    });
    r.registerService('a', check);
    await vi.advanceTimersByTimeAsync(3000);
    await r.close();
    const events = host.events.length;
    const runs = check.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(host.events.length).toBe(events);
    expect(check.mock.calls.length).toBe(runs);
    expect(() => r.registerService('b', () => true)).toThrow(HealthOptionError);
    r.sendHeartbeat();
    expect(host.events.length).toBe(events);
  });
});

describe('HealthReporter: bad input', () => {
  it('throws a HealthOptionError naming each bad option', () => {
    const bad: [string, unknown][] = [
      ['heartbeatIntervalMs', -1],
      ['heartbeatIntervalMs', Number.NaN],
      ['deliveryIntervalMs', 'often'],
      ['deliveryStats', {}],
      ['autoStart', 1],
      ['intervalMs', -1],
      ['timeoutMs', Number.POSITIVE_INFINITY],
      ['failureThreshold', 0],
      ['critical', 'yes'],
      ['gracePeriodMs', -1],
      ['checkEvery', 1],
    ];
    for (const [option, value] of bad) {
      let caught: unknown;
      try {
        createHealthReporter(fakeHost(), { [option]: value } as never);
      } catch (error) {
        caught = error;
      }
      expect(caught, option).toBeInstanceOf(HealthOptionError);
      expect((caught as HealthOptionError).option).toBe(option);
      expect((caught as HealthOptionError).kind).toBe('invalid-option');
    }
    expect(() => createHealthReporter(undefined as never)).toThrow(HealthOptionError);
  });

  it('rejects bad registrations with a HealthOptionError and keeps the others', async () => {
    const { r } = reporter();
    r.registerService('db', () => true);
    const attempts: [string, () => unknown][] = [
      ['name', () => r.registerService('', () => true)],
      ['name', () => r.registerService(5 as never, () => true)],
      ['name', () => r.registerService('db', () => true)],
      ['check', () => r.registerService('x', null as never)],
      ['check', () => r.registerService('x', 'http://x' as never)],
      ['x.intervalMs', () => r.registerService('x', () => true, { intervalMs: -1 })],
      ['x.bogus', () => r.registerService('x', () => true, { bogus: 1 } as never)],
    ];
    for (const [option, attempt] of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(caught, option).toBeInstanceOf(HealthOptionError);
      expect((caught as HealthOptionError).option).toBe(option);
    }
    const report = await r.getHealthReport({ refresh: true });
    expect(Object.keys(report.checks)).toEqual(['db']);
  });

  it('answers a HealthOptionError, not a plain Error, for a check or options that cannot be read', async () => {
    const { r } = reporter();
    const trap = (): never => {
      throw new Error('trap');
    };
    const hostile = new Proxy({}, { get: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, has: trap });
    const getter = {
      url: 'http://127.0.0.1:1/health',
      get method(): string {
        throw new Error('getter');
      },
    };
    const headers = { url: 'http://127.0.0.1:1/health', headers: hostile };
    const attempts: [string, () => unknown][] = [
      ['check', () => r.registerService('a', hostile as never)],
      ['check', () => r.registerService('b', getter as never)],
      ['check', () => r.registerService('c', headers as never)],
      ['d.options', () => r.registerService('d', () => true, hostile)],
      ['options', () => createHealthReporter(fakeHost(), hostile)],
    ];
    for (const [option, attempt] of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(caught, option).toBeInstanceOf(HealthOptionError);
      expect((caught as HealthOptionError).option, option).toBe(option);
      expect((caught as HealthOptionError).message).toMatch(
        /could not be read: a getter or Proxy trap threw/,
      );
    }
    // Readable ones are taken as before, inherited options too.
    const inherited = Object.create({ critical: false }) as { critical?: boolean };
    r.registerService('e', () => true, inherited);
    r.registerService('f', { url: 'http://127.0.0.1:1/health', expectedStatus: [200, 204] });
    const report = await r.getHealthReport();
    expect(report.checks['e']?.critical).toBe(false);
    expect(Object.keys(report.checks)).toEqual(['e', 'f']);
  });

  it('keeps going when host.track throws', async () => {
    const host = fakeHost();
    host.track = () => {
      throw new Error('boom');
    };
    const { r } = reporter({}, host);
    r.registerService('a', () => true);
    await expect(r.getHealthReport({ refresh: true })).resolves.toMatchObject({ status: 'healthy' });
    expect(() => r.sendHeartbeat()).not.toThrow();
  });
});
