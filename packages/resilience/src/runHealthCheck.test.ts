import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskTimeoutError } from './errors.js';
import { HealthMonitor } from './HealthMonitor.js';
import type { HealthCheckResult } from './httpHealthCheck.js';
import { runHealthCheck } from './runHealthCheck.js';
import { transpiledPackage } from './transpiledPackage.test-helpers.js';

const monitors: HealthMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.close()));
});

/** Answers that throw as they are read: a getter on `ok`, a Proxy whose `ok` throws. */
const evilAnswers: [string, () => unknown][] = [
  [
    'an ok getter that throws',
    () => ({
      get ok(): boolean {
        throw new Error('evil getter');
      },
    }),
  ],
  [
    'a Proxy whose get trap throws for ok',
    () =>
      new Proxy(
        {},
        {
          // `then` reads fine (else the check's own promise rejects first): only `ok` throws.
          get(_target, key) {
            if (key === 'ok') throw new Error('evil getter');
            return undefined;
          },
        },
      ),
  ],
];

describe('runHealthCheck: a result that throws as it is read', () => {
  it.each(evilAnswers)('%s is a failed run naming the error', async (_label, answer) => {
    const run = runHealthCheck(async () => answer() as HealthCheckResult, 60_000, new AbortController());
    const done = await run.result;
    expect(done?.outcome).toMatchObject({ ok: false, error: expect.stringContaining('evil getter') });
    expect(done?.abandoned).toBeUndefined();
  });

  it.each(evilAnswers)('%s makes the check unhealthy in a monitor', async (_label, answer) => {
    const m = new HealthMonitor({ failureThreshold: 1 });
    monitors.push(m);
    m.register('evil', async () => answer() as HealthCheckResult, { timeoutMs: 60_000 });
    const entry = (await m.runNow()).checks['evil']!;
    expect(entry.status).toBe('unhealthy');
    expect(entry.lastError).toContain('evil getter');
  });
});

describe('runHealthCheck: timers and the process', () => {
  it('an awaited runNow() ends and reports a check that never settles, with nothing else keeping Node alive, also when it waits for a background run; a background run alone does not hold the process', () => {
    const { dir, index } = transpiledPackage('homing-health-');
    const script = `
      const { HealthMonitor } = await import(${JSON.stringify(index)});
      // In the background, a check that hangs for an hour: it must not hold the process.
      const background = new HealthMonitor();
      background.register('slow', () => new Promise(() => {}), { timeoutMs: 3_600_000 });
      background.start();
      const m = new HealthMonitor({ failureThreshold: 1 });
      m.register('hang', () => new Promise(() => {}), { critical: true, timeoutMs: 200 });
      const report = await m.runNow();
      console.log(JSON.stringify({ status: report.status, lastError: report.checks.hang.lastError }));
      // runNow() on a started monitor waits for the background run in flight first.
      const joined = new HealthMonitor({ failureThreshold: 1 });
      joined.register('hang', () => new Promise(() => {}), { critical: true, timeoutMs: 200 });
      joined.start();
      const again = await joined.runNow();
      console.log(JSON.stringify({ status: again.status, failures: again.checks.hang.consecutiveFailures }));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.error).toBeUndefined();
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      { status: 'unhealthy', lastError: new TaskTimeoutError(200).message },
      { status: 'unhealthy', failures: 2 },
    ]);
    expect(result.status).toBe(0);
  });
});
