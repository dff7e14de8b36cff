import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_OPTIONS } from './deliveryOptions.js';
import { makeRecords, Sink, startDelivery, track, until } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A loopback sink on a fixed port: `hang` accepts each request and never answers it. */
async function sinkOn(port: number, mode: 'hang' | 'accept'): Promise<Sink> {
  const sink = new Sink();
  sink.port = port;
  if (mode === 'hang') sink.handler = () => 'hang';
  await sink.up();
  cleanups.push(() => sink.down().catch(() => undefined));
  return sink;
}

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const registerTs = here('../outbox/file-log/__fixtures__/register-ts.mjs');

/**
 * Runs `__fixtures__/exit-child.ts` on the sources; resolves its exit and how long it took to
 * exit once its events were tracked (`ms`; start-up is not counted: a loaded machine stretches
 * the TypeScript loading to several seconds).
 */
function runChild(
  dir: string,
  url: string,
  n: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stderr: string }> {
  let tracked = Number.NaN;
  const child = spawn(
    process.execPath,
    [
      '--conditions=homing-source',
      '--import',
      registerTs,
      here('./__fixtures__/exit-child.ts'),
      dir,
      url,
      String(n),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DO_NOT_TRACK: '', HOMING_DISABLED: '' } },
  );
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    if (Number.isNaN(tracked) && chunk.includes('tracked')) tracked = Date.now();
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  // Never left behind, whatever the test does.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, ms: Date.now() - tracked, stderr });
    }),
  );
}

/**
 * An endpoint that accepts connections and never answers must not keep the host alive past the
 * exit budget: the exit flush waits `exitFlushTimeoutMs`, then cuts the requests in flight, whose
 * batches go back to the outbox for the next run.
 */
describe('exit budget with an endpoint that never answers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-exit-budget-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the exit flush cuts the request in flight at its budget and releases its batch', async () => {
    const sink = await sinkOn(18951, 'hang');
    const h = startDelivery({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
      batchSize: 3,
      exitFlushTimeoutMs: 300,
      requestTimeoutMs: 20_000,
    });
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(3);
    track(h, records);
    await until(() => sink.requests.length === 1, 10_000, 'the request');
    expect(h.delivery.stats().inFlight).toBe(1);

    await h.platform.exit();
    expect(h.delivery.stats().inFlight).toBe(0);
    // Released: claimable again, in order.
    const batch = await h.outbox.claim(10, 1_000_000);
    expect(batch?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
    await h.outbox.release(batch!);
  });

  it(
    'a CLI exits well within the request timeout and the next run delivers its events',
    { timeout: 90_000 },
    async () => {
      const hanging = await sinkOn(18952, 'hang');
      const outbox = path.join(dir, 'cli');
      const first = await runChild(outbox, hanging.url, 5);
      expect(first, first.stderr).toMatchObject({ code: 0, signal: null });
      expect(hanging.requests.length).toBeGreaterThanOrEqual(1);
      // Within the exit budget (2 s); the defect took two request timeouts (20 s).
      expect(first.ms).toBeLessThan(DEFAULT_DELIVERY_OPTIONS.requestTimeoutMs);
      await hanging.down();

      const working = await sinkOn(18953, 'accept');
      const second = await runChild(outbox, working.url, 0);
      expect(second, second.stderr).toMatchObject({ code: 0, signal: null });
      expect(new Set(working.acceptedUuids).size).toBe(5);
    },
  );
});
