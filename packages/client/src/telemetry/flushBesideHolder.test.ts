import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import { Sink, sinkEvents, testPlatform } from './telemetry.test-helpers.js';

describe('flush() of a client whose queue another client delivers', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setUp(intervalMs: number) {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-flush-beside-'));
    cleanups.push(async () => rmSync(directory, { recursive: true, force: true }));
    const sink = await Sink.start();
    cleanups.push(() => sink.down());
    const make = (): TelemetryClient => {
      const c = createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        storage: 'file',
        directory,
        platform: testPlatform(),
        respectDoNotTrack: false,
        delivery: { intervalMs, retry: { initialMs: 10, maxMs: 50 } },
      });
      cleanups.push(() => c.shutdown({ timeoutMs: 1_000 }));
      return c;
    };
    return { sink, make };
  }

  it('waits within its budget until the holder has sent what it tracked', async () => {
    // The holder's own timer fires every 300 ms: the second client's flush must wait for it.
    const { sink, make } = await setUp(300);
    const holder = make();
    holder.track('first');
    expect(await holder.flush({ timeoutMs: 5_000 })).toMatchObject({ sent: 1, pending: 0 });
    const other = make();
    for (let i = 0; i < 10; i++) other.track('beside');
    const result = await other.flush({ timeoutMs: 5_000 });
    expect(result).toMatchObject({ pending: 0, timedOut: false });
    expect(sinkEvents(sink).filter((e) => e.event === 'beside')).toHaveLength(10);
  });

  it('sends itself once the holder lets the queue go', async () => {
    const { sink, make } = await setUp(60_000);
    const holder = make();
    holder.track('first');
    await holder.flush({ timeoutMs: 5_000 });
    const other = make();
    for (let i = 0; i < 5; i++) other.track('beside');
    const flushing = other.flush({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    // No time to flush: it lets the lock go with the events still queued.
    await holder.shutdown({ timeoutMs: 0 });
    const result = await flushing;
    expect(result).toMatchObject({ pending: 0, timedOut: false, sent: 5 });
    expect(sinkEvents(sink).filter((e) => e.event === 'beside')).toHaveLength(5);
  });

  it('answers timedOut with the events still queued when the holder does not send them in time', async () => {
    const { make } = await setUp(60_000);
    const holder = make();
    holder.track('first');
    await holder.flush({ timeoutMs: 5_000 });
    const other = make();
    other.track('beside');
    expect(await other.flush({ timeoutMs: 400 })).toMatchObject({ sent: 0, pending: 1, timedOut: true });
  });
});
