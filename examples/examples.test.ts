/**
 * Runs the examples as their users would, against a real `homing serve` (startServer) on
 * 127.0.0.1, and checks that what they record arrives in the server: request timings, errors
 * with breadcrumbs, usage, operations, health and CLI runs. Children run the sources through
 * the TypeScript module hooks the client's crash tests use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '@homing/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const register = here('../packages/client/src/outbox/file-log/__fixtures__/register-ts.mjs');
const dir = mkdtempSync(join(tmpdir(), 'homing-examples-'));

let server: RunningServer;
let writeKey: string;
let adminKey: string;

interface StoredEventJson {
  event: string;
  distinctId?: string;
  properties: Record<string, unknown>;
}

/** `env` values that are undefined are left out of the child's environment. */
function node(script: string, args: string[], env: Record<string, string | undefined>): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=homing-source', '--import', register, here(script), ...args],
    {
      env: { ...process.env, NODE_OPTIONS: '', HOMING_URL: server.url, HOMING_KEY: writeKey, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

function exited(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c));
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function events(filter: string): Promise<StoredEventJson[]> {
  const response = await fetch(`${server.url}/api/events?limit=1000&${filter}`, {
    headers: { authorization: `Bearer ${adminKey}` },
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { events: StoredEventJson[] };
  return body.events;
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  server = await startServer({ port: 0, dataDir: join(dir, 'server') });
  const project = await server.store.createProject('examples');
  writeKey = project.writeKey;
  adminKey = project.adminKey;
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('examples/cli', { timeout: 180_000 }, () => {
  it('each run sends its invocation, usage, timings and failures to homing serve', async () => {
    const env = { HOMING_OUTBOX_DIR: join(dir, 'cli-outbox') };
    const greet = await exited(node('./cli/homing-demo.mjs', ['greet', 'Ada'], env));
    expect(greet.stdout).toContain('Hello, Ada!');
    expect(greet.code).toBe(0);
    const ask = await exited(node('./cli/homing-demo.mjs', ['ask'], env));
    expect(ask.code).toBe(0);
    const bad = await exited(node('./cli/homing-demo.mjs', ['frobnicate'], env));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command');

    const invocations = await eventually(
      () => events('event=cli_invocation'),
      (e) => e.length === 3,
      'three cli_invocation events',
    );
    expect(invocations.map((e) => e.properties['command']).sort()).toEqual(['ask', 'frobnicate', 'greet']);
    const exceptions = await events('event=%24exception');
    expect(exceptions).toHaveLength(1);
    expect(exceptions[0]!.properties['$exception_message']).toContain('unknown command');
    expect(exceptions[0]!.properties['$exception_breadcrumbs']).toEqual([
      expect.objectContaining({ category: 'cli', message: 'run frobnicate', data: { argCount: 0 } }),
    ]);
    const summaries = await events('event=%24metric_summary');
    expect(JSON.stringify(summaries)).toContain('cli.duration');
    expect((await events('event=%24feature_used')).length).toBe(1);
    expect((await events('event=%24conversation_ended')).length).toBe(1);
    // One install id for all runs on one outbox: the runs are one user.
    expect(new Set(invocations.map((e) => e.distinctId)).size).toBe(1);
  });
});

describe('examples without HOMING_KEY', { timeout: 60_000 }, () => {
  it.each(['./cli/homing-demo.mjs', './express-service/server.mjs'])(
    '%s says to set HOMING_KEY and exits 1, without a stack trace',
    async (script) => {
      for (const key of [undefined, '']) {
        const env = { HOMING_KEY: key, PORT: '0', HOMING_OUTBOX_DIR: join(dir, 'no-key-outbox') };
        const run = await exited(node(script, ['greet'], env));
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
        expect(run.stderr.trim().split('\n')).toEqual([
          expect.stringMatching(/^HOMING_KEY is not set: .*write key.*`npx homing projects list`/),
        ]);
      }
    },
  );
});

describe('examples started wrong', { timeout: 60_000 }, () => {
  it.each(['./cli/homing-demo.mjs', './express-service/server.mjs'])(
    '%s with HOMING_URL lacking its scheme says so and exits 1, without a stack trace',
    async (script) => {
      const env = { HOMING_URL: '127.0.0.1:8090', PORT: '0', HOMING_OUTBOX_DIR: join(dir, 'bad-url-outbox') };
      const run = await exited(node(script, ['greet'], env));
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^Cannot start telemetry: .*host/);
    },
  );

  it('the Express service on a port in use says so and exits 1', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = String((taken.address() as { port: number }).port);
      const env = { PORT: port, HOMING_OUTBOX_DIR: join(dir, 'port-taken-outbox') };
      const run = await exited(node('./express-service/server.mjs', [], env));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`Cannot listen on 127.0.0.1:${port}`);
      expect(run.stderr).toContain('EADDRINUSE');
      expect(run.stderr).not.toContain('TypeError');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

describe('examples/express-service', { timeout: 180_000 }, () => {
  it('records request timings, errors with breadcrumbs, usage and health, and flushes on SIGTERM', async () => {
    const child = node('./express-service/server.mjs', [], {
      PORT: '0',
      HOMING_OUTBOX_DIR: join(dir, 'express-outbox'),
      ORDERS_DOWN: '1',
    });
    const done = exited(child);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('close', (code) => reject(new Error(`the service exited with ${code}`)));
    });
    expect((await fetch(`${url}/orders/1`, { headers: { 'x-user': 'u1' } })).status).toBe(200);
    expect((await fetch(`${url}/orders/999`)).status).toBe(404);
    expect((await fetch(`${url}/orders/1/summary`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${url}/boom`)).status).toBe(500);
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);

    const exceptions = await eventually(
      () => events('event=%24exception'),
      (e) => e.some((x) => String(x.properties['$exception_message']).includes('order 17')),
      'the /boom exception',
    );
    const boom = exceptions.find((x) => String(x.properties['$exception_message']).includes('order 17'))!;
    expect(JSON.stringify(boom.properties)).toContain('about to fail');

    const summaries = await eventually(
      () => events('event=%24metric_summary'),
      (e) => JSON.stringify(e).includes('/orders/:id'),
      'request timing summaries',
    );
    const text = JSON.stringify(summaries);
    expect(text).toContain('ai.summary');
    expect(text).not.toContain('/orders/1"'); // routes by pattern, never by id
    const health = await events('event=%24health');
    expect(health.length).toBeGreaterThan(0);
    expect(JSON.stringify(health)).toContain('orders-db');
    const used = await events('event=%24feature_used');
    expect(used.map((e) => e.properties['feature'])).toContain('orders.view');
    expect((await events('event=%24provider_request')).length).toBe(1);
  });
});
