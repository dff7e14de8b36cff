import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

describe('environment switches (read through the platform)', () => {
  let sink: Sink;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-env-'));
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(async () => {
    await sink.down();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, value] of [
    ['DO_NOT_TRACK', '1'],
    ['DO_NOT_TRACK', 'true'],
    ['HOMING_DISABLED', '1'],
  ] as const) {
    it(`${name}=${value} makes a no-op client that opens no storage and sends nothing`, async () => {
      const directory = path.join(dir, `${name}-${value}`);
      const t = clientFor(sink, { storage: 'file', directory }, { [name]: value });
      t.track('ignored', { a: 1 });
      t.identify('someone');
      t.setConsent('granted');
      expect(await t.flush({ timeoutMs: 1_000 })).toEqual({ sent: 0, pending: 0, timedOut: false });
      const stats = await t.stats();
      expect(stats).toMatchObject({ enabled: false, tracked: 1, queued: 0 });
      expect(stats.dropped.disabled).toBe(1);
      t.featureHost().track('also.ignored');
      await t.shutdown({ timeoutMs: 1_000 });
      expect(existsSync(directory)).toBe(false);
      expect(sink.requests).toHaveLength(0);
    });
  }

  it('DO_NOT_TRACK=0 or empty leaves it on; respectDoNotTrack: false ignores it', async () => {
    for (const [env, options] of [
      [{ DO_NOT_TRACK: '0' }, {}],
      [{ DO_NOT_TRACK: '' }, {}],
      [{ DO_NOT_TRACK: '1' }, { respectDoNotTrack: false }],
    ] as const) {
      const t = clientFor(sink, options, env);
      t.track('on');
      await t.flush({ timeoutMs: 10_000 });
      expect((await t.stats()).enabled).toBe(true);
      await t.shutdown({ timeoutMs: 2_000 });
    }
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['on', 'on', 'on']);
  });

  it('disabled: true is a no-op too, and a bad option is still reported', () => {
    const t = clientFor(sink, { disabled: true });
    expect(() => t.track('x')).not.toThrow();
    expect(() => clientFor(sink, { disabled: true, sessionIdleMs: -1 })).toThrow(/sessionIdleMs/);
  });

  it('HOMING_DEBUG=1 logs to the console (stderr on Node); silent otherwise', async () => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    const stdout = vi.spyOn(console, 'debug').mockImplementation(() => {});
    try {
      const quiet = clientFor(sink, { sampling: { default: { kind: 'never' } } });
      quiet.track('dropped');
      await quiet.shutdown({ timeoutMs: 2_000 });
      expect(stderr).not.toHaveBeenCalled();
      const loud = clientFor(sink, { sampling: { default: { kind: 'never' } } }, { HOMING_DEBUG: '1' });
      loud.track('dropped');
      await loud.shutdown({ timeoutMs: 2_000 });
      expect(stderr).toHaveBeenCalled();
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
  });
});
