/**
 * The Node bundle (`dist/node/`, built by `scripts/bundleNode.mjs` after `tsc`), as an app loads
 * it: a child Node process without the `homing-source` condition, so `@homing/client` and
 * `@homing/client/integrations` resolve through the package's exports to the bundle. Checks that
 * it resolves there, that the pipeline, error capture, metrics and the Express integration work
 * through it, that error classes keep their names and identity, and that bad input is refused
 * the same way as from the sources.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function runModule(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', source], {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: '', DO_NOT_TRACK: '', HOMING_DISABLED: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const SCRIPT = `
import express from 'express';
const client = await import('@homing/client');
const integrations = await import('@homing/client/integrations');
const out = {
  resolved: [import.meta.resolve('@homing/client'), import.meta.resolve('@homing/client/integrations')],
};
const received = [];
const telemetry = client.createTelemetry({
  endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
  storage: 'memory',
  distinctId: 'bundle-test',
  errors: { captureUnhandled: false },
  performance: { flushIntervalMs: 60_000, runtime: 'off' },
});
const cyclic = { name: 'loop' };
cyclic.self = cyclic;
telemetry.track('bundle.tracked', { n: 1, email: 'someone@example.com' });
telemetry.track('bundle.cyclic', cyclic);
telemetry.track(42);
const app = express();
integrations.instrumentExpress(app, telemetry);
app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
app.get('/fail', () => {
  throw new Error('bundle route failed');
});
app.use(integrations.homingExpressErrorHandler(telemetry));
app.use((error, _req, res, _next) => res.status(500).json({ id: res.locals.homingErrorId ?? null }));
const server = app.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const base = 'http://127.0.0.1:' + server.address().port;
out.item = await (await fetch(base + '/items/7')).json();
out.failure = await (await fetch(base + '/fail')).json();
await new Promise((r) => server.close(r));
try {
  client.createTelemetry({ endpoints: [], storage: 'nowhere' });
  out.badOptions = 'accepted';
} catch (error) {
  out.badOptions = {
    name: error.name,
    isOptionError: error instanceof client.TelemetryOptionError,
    isTelemetryError: error instanceof client.TelemetryError,
  };
}
try {
  integrations.instrumentExpress({}, telemetry);
  out.badApp = 'accepted';
} catch (error) {
  out.badApp = { name: error.name, message: error.message };
}
await telemetry.shutdown({ timeoutMs: 5_000 });
out.events = received.map((e) => ({
  event: e.event,
  uuid: e.uuid,
  distinctId: e.distinct_id,
  properties: e.properties,
}));
process.stdout.write(JSON.stringify(out));
`;

describe('the Node bundle (dist/node)', () => {
  it('is what the package resolves to on Node, and the client and Express integration work through it', async () => {
    const { code, stdout, stderr } = await runModule(SCRIPT);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as {
      resolved: string[];
      item: unknown;
      failure: { id: string | null };
      badOptions: { name: string; isOptionError: boolean; isTelemetryError: boolean } | string;
      badApp: { name: string; message: string } | string;
      events: Array<{ event: string; uuid: string; distinctId: string; properties: Record<string, unknown> }>;
    };
    expect(out.resolved[0]).toMatch(/\/packages\/client\/dist\/node\/index\.js$/);
    expect(out.resolved[1]).toMatch(/\/packages\/client\/dist\/node\/integrations\.js$/);
    expect(out.item).toEqual({ id: '7' });

    const byName = (name: string) => out.events.filter((e) => e.event === name);
    const tracked = byName('bundle.tracked');
    expect(tracked).toHaveLength(1);
    expect(tracked[0]!.distinctId).toBe('bundle-test');
    expect(tracked[0]!.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(tracked[0]!.properties['email']).toBe('[REDACTED]');
    // A cycle is cut, not thrown; a non-string event name is dropped, not thrown.
    expect(byName('bundle.cyclic')).toHaveLength(1);
    expect(out.events.some((e) => (e.event as unknown) === 42)).toBe(false);

    // The error the route threw: captured with its route, and its id handed to the app's handler.
    const exceptions = byName('$exception');
    expect(exceptions).toHaveLength(1);
    expect(out.failure.id).toBe(exceptions[0]!.properties['$exception_id']);
    expect(exceptions[0]!.properties['$exception_message']).toBe('bundle route failed');
    expect(JSON.stringify(exceptions[0]!.properties)).toContain('/fail');

    // Request timings, sent as a summary at shutdown, by route pattern.
    const summaries = JSON.stringify(byName('$metric_summary'));
    expect(summaries).toContain('/items/:id');

    // Error classes keep their names and identity through the bundle.
    expect(out.badOptions).toEqual({
      name: 'TelemetryOptionError',
      isOptionError: true,
      isTelemetryError: true,
    });
    expect(out.badApp).toMatchObject({ name: 'IntegrationOptionError' });
    expect((out.badApp as { message: string }).message).toContain('Express app');
  });

  // Node prints the source line an uncaught error was thrown from: the bundle's own line for a
  // crash the error tracker held and threw again, or an option error the app did not catch.
  // With every statement on one line that was the whole bundle, about 320 KB on stderr.
  it.each([
    [
      'a crash held by the error tracker',
      `const { createTelemetry } = await import('@homing/client');
       createTelemetry({ storage: 'memory', endpoints: [{ destination: 'custom', send: async () => {} }], errors: { captureUnhandled: true } });
       setTimeout(() => { throw new Error('app crashed'); }, 10);`,
      'Error: app crashed',
    ],
    [
      'an option error the app did not catch',
      `const { createTelemetry } = await import('@homing/client');
       createTelemetry({ storage: 'memry', endpoints: [{ destination: 'custom', send: async () => {} }] });`,
      'TelemetryOptionError',
    ],
  ])('%s prints a few lines on stderr, not the bundle', async (_what, source, error) => {
    const { code, stderr } = await runModule(source);
    expect(code).toBe(1);
    expect(stderr).toContain(error);
    expect(stderr.length).toBeLessThan(4_000);
    expect(Math.max(...stderr.split('\n').map((line) => line.length))).toBeLessThan(1_000);
  });
});
