import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTelemetry } from './index.node.js';
import { guardedLogger, type Logger } from './logger.js';
import type { TelemetryClient } from './telemetry/client.js';
import { useUnhandledRejections } from './unhandledRejections.test-helpers.js';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const registerTs = here('./outbox/file-log/__fixtures__/register-ts.mjs');

describe('consoleLogger (HOMING_DEBUG=1)', () => {
  it('on Node writes every level to stderr and nothing to stdout (an MCP server speaks on stdout)', () => {
    const script = [
      `const { consoleLogger } = await import(${JSON.stringify(here('./logger.ts'))});`,
      `const log = consoleLogger();`,
      `log.debug('delivery attempt failed', { status: 503 });`,
      `log.warn('a warning');`,
      `log.error('an error');`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', registerTs, '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('[homing] delivery attempt failed');
    expect(run.stderr).toContain('[homing] a warning');
    expect(run.stderr).toContain('[homing] an error');
  });
});

describe('guardedLogger', () => {
  const unhandled = useUnhandledRejections();

  it("an async logger's rejection never reaches the host: identify() warns through one", async () => {
    const warned: string[] = [];
    const logger = {
      debug: async () => {},
      warn: async (message: string) => {
        warned.push(message);
        throw new Error('log shipper down');
      },
      error: async () => {},
    };
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => undefined }],
      storage: 'memory',
      logger,
    });
    t.identify('null'); // ignored with a warning
    const log = guardedLogger(logger);
    log.warn('a line');
    // A thenable that is no Promise, rejecting too.
    guardedLogger({ ...logger, warn: () => Promise.reject(new Error('x')).then() as never }).warn('b');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await t.shutdown({ timeoutMs: 1_000 });
    expect(warned).toContain('a line');
    expect(warned.some((w) => w.startsWith('identify ignored'))).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it("a line the logger's own call causes is left out: a logger that tracks, after shutdown(), ends", async () => {
    const client: { t?: TelemetryClient } = {};
    let depth = 0;
    let deepest = 0;
    const forward =
      (level: string) =>
      (message: string): void => {
        depth++;
        deepest = Math.max(deepest, depth);
        try {
          client.t?.track('homing.log', { level, message });
        } finally {
          depth--;
        }
      };
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => undefined }],
      storage: 'memory',
      deliveryReport: false,
      logger: { debug: forward('debug'), warn: forward('warn'), error: forward('error') },
    });
    client.t = t;
    await t.shutdown({ timeoutMs: 1_000 });
    const before = await t.stats();
    for (let i = 0; i < 3; i++) t.track('after.shutdown');
    const after = await t.stats();
    // Each track: dropped, logged; the logger's track: dropped, its line left out.
    expect(after.tracked - before.tracked).toBe(6);
    expect(after.dropped.disabled - before.dropped.disabled).toBe(6);
    expect(deepest).toBe(1);
  });

  it('a logger that logs through itself gets its own line once, the nested one left out', () => {
    const lines: string[] = [];
    const log: Logger = guardedLogger({
      debug: (message) => {
        lines.push(message);
        log.warn(`again: ${message}`);
      },
      warn: (message) => void lines.push(message),
      error() {},
    });
    log.debug('one');
    log.warn('two');
    expect(lines).toEqual(['one', 'two']);
  });
});
