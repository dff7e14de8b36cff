import { describe, expect, it } from 'vitest';
import type { Logger } from '../logger.js';
import { createMemoryOutbox } from './memory.js';
import { makeRecords } from './outbox.contract.js';
import { DropListeners } from './records.js';
import {
  CLOCK_JUMP_MARGIN_MS,
  RETENTION_WARN_INTERVAL_MS,
  retentionClock,
  warnOnRetentionDrops,
} from './retentionClock.js';

const DAY = 24 * 60 * 60 * 1000;

function recordingLogger(): Logger & { warnings: { message: string; details?: Record<string, unknown> }[] } {
  const warnings: { message: string; details?: Record<string, unknown> }[] = [];
  return {
    warnings,
    debug() {},
    error() {},
    warn: (message, details) => void warnings.push({ message, details }),
  };
}

describe('retentionClock', () => {
  it('follows the wall clock while it agrees with the monotonic clock', () => {
    let wall = 1_000_000;
    let mono = 50;
    const now = retentionClock(
      () => wall,
      undefined,
      () => mono,
    );
    wall += 5 * DAY;
    mono += 5 * DAY;
    expect(now()).toBe(wall);
    // Slewed a little (within the margin): still the wall clock.
    wall += CLOCK_JUMP_MARGIN_MS;
    expect(now()).toBe(wall);
  });

  it('ages as of the measured time when the wall clock jumps ahead, and warns once', () => {
    let wall = Date.parse('2020-01-01T00:00:00Z');
    let mono = 0;
    const logger = recordingLogger();
    const now = retentionClock(
      () => wall,
      logger,
      () => mono,
    );
    mono += 1000;
    wall = Date.parse('2026-01-10T00:00:00Z') + 1000;
    expect(now()).toBe(Date.parse('2020-01-01T00:00:00Z') + 1000);
    mono += DAY;
    wall += DAY;
    expect(now()).toBe(Date.parse('2020-01-02T00:00:00Z') + 1000);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]!.details).toMatchObject({
      aheadMs: Date.parse('2026-01-10') - Date.parse('2020-01-01'),
    });
  });

  it('trusts a step back, and its correction forward is no jump', () => {
    let wall = 10 * DAY;
    let mono = 0;
    const now = retentionClock(
      () => wall,
      undefined,
      () => mono,
    );
    wall -= 3 * DAY;
    expect(now()).toBe(7 * DAY);
    mono += 1000;
    wall = 10 * DAY + 1000;
    expect(now()).toBe(10 * DAY + 1000);
  });

  it('trusts the wall clock where there is no monotonic clock', () => {
    let wall = 0;
    const now = retentionClock(
      () => wall,
      undefined,
      () => Number.NaN,
    );
    wall = 400 * DAY;
    expect(now()).toBe(400 * DAY);
  });
});

describe('warnOnRetentionDrops', () => {
  it('warns with the count, at most once per interval, counting what it did not warn about', () => {
    const drops = new DropListeners();
    const logger = recordingLogger();
    let mono = 0;
    warnOnRetentionDrops(drops, logger, 7 * DAY, () => mono);
    drops.emit('retention', 5);
    drops.emit('overflow', 9);
    mono += 1000;
    drops.emit('retention', 2);
    mono += RETENTION_WARN_INTERVAL_MS;
    drops.emit('retention', 1);
    expect(logger.warnings.map((w) => w.details?.['events'])).toEqual([5, 3]);
  });
});

describe('memory outbox under a forward clock step', () => {
  it('keeps its queue and warns about the step; retention drops are warned about', async () => {
    let now = Date.parse('2020-01-01T00:00:00Z');
    const logger = recordingLogger();
    const outbox = createMemoryOutbox({ retentionMs: 7 * DAY, now: () => now, logger });
    const queued = makeRecords(4, 60, now);
    outbox.append(queued);
    now = Date.parse('2026-01-10T00:00:00Z');
    const batch = await outbox.claim(10, Infinity);
    expect(batch?.records).toHaveLength(4);
    expect(logger.warnings.map((w) => w.message).join(' ')).toContain('clock jumped ahead');
    // Records older than the retention as of the measured time are still dropped, and said so.
    outbox.append(makeRecords(2, 60, Date.parse('2019-01-01T00:00:00Z')));
    expect(logger.warnings.at(-1)).toMatchObject({
      message: 'outbox: events older than the retention period were dropped',
      details: { events: 2 },
    });
  });
});
