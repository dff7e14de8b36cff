import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

/**
 * A service's SIGTERM drain: shutdown() begins, and request handlers still running track their
 * last events while it flushes. Those events used to be dropped ('disabled') before they reached
 * the outbox, so not even the next run could send them.
 */
describe('track() while shutdown() is flushing', () => {
  const dirs: string[] = [];
  const sinks: Sink[] = [];
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.down();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('stores the events in the outbox; the next run sends them', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'homing-track-during-shutdown-'));
    dirs.push(directory);
    // The endpoint answers nothing: the shutdown's flush waits out its budget.
    const hanging = await Sink.start(() => new Promise(() => {}));
    sinks.push(hanging);
    const first = clientFor(hanging, { storage: 'file', directory, name: 'drain' });
    for (let i = 0; i < 10; i++) first.track('before', { i });
    const shutdown = first.shutdown({ timeoutMs: 1_000 });
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 10; i++) first.track('during', { i });
    await shutdown;
    const stats = await first.stats();
    expect(stats.dropped.disabled).toBe(0);
    // Stored by the close, and counted so.
    expect(stats).toMatchObject({ tracked: 20, persisted: 20 });
    first.track('after');
    expect((await first.stats()).dropped.disabled).toBe(1);

    const up = await Sink.start();
    sinks.push(up);
    const second = clientFor(up, { storage: 'file', directory, name: 'drain' });
    await second.flush({ timeoutMs: 10_000 });
    await second.shutdown({ timeoutMs: 2_000 });
    const names = sinkEvents(up).map((e) => `${e.event}:${String(e.properties.i)}`);
    expect(names.filter((n) => n.startsWith('before')).length).toBe(10);
    expect(new Set(names.filter((n) => n.startsWith('during'))).size).toBe(10);
    expect(names).not.toContain('after:undefined');
  });
});
