import { describe, expect, it } from 'vitest';
import type { IngestEvent } from '../store/store.js';
import { buildIngestEvent, type BuildContext, type EventParts } from './buildIngestEvent.js';
import { clockSkewMs, MAX_CORRECTED_AGE_MS, MAX_FUTURE_MS, TIMESTAMP_FORMAT_ERROR } from './eventTime.js';

const RECEIVED_MS = Date.parse('2026-12-03T12:00:00.000Z');
const ctx: BuildContext = {
  receivedMs: RECEIVED_MS,
  receivedAt: new Date(RECEIVED_MS).toISOString(),
  maxEventBytes: 1_000_000,
  maxPropertiesDepth: 32,
};

function build(timestamp: unknown, skewMs = 0): IngestEvent | string {
  const parts: EventParts = {
    uuid: undefined,
    event: 'tscase',
    distinctId: 'x',
    timestamp,
    properties: {},
    skewMs,
  };
  return buildIngestEvent(parts, ctx);
}

function built(timestamp: unknown, skewMs = 0): IngestEvent {
  const b = build(timestamp, skewMs);
  if (typeof b === 'string') throw new Error(`refused ${JSON.stringify(timestamp)}: ${b}`);
  return b;
}

describe('buildIngestEvent: timestamps', () => {
  it('refuses, with the reason, what is not an ISO 8601 date or date-time or epoch ms', () => {
    for (const ts of [
      '1',
      '12',
      'hello 5',
      'Tuesday, 2020',
      '1700000000000',
      'Tue, 01 Dec 2026 10:00:00 GMT',
      true,
      {},
      Number.NaN,
      1e16,
    ]) {
      expect([ts, build(ts)]).toEqual([ts, TIMESTAMP_FORMAT_ERROR]);
    }
  });

  it('says which part of a date-time is not of the calendar', () => {
    expect(build('2026-02-30')).toBe(
      'timestamp "2026-02-30" is not a date: 2026-02 has no day 30 (it has 28)',
    );
    expect(build('2025-02-29T10:00:00Z')).toMatch(/2025-02 has no day 29 \(it has 28\)$/);
    expect(built('2024-02-29T10:00:00Z').timestamp).toBe('2024-02-29T10:00:00.000Z');
    expect(build('2026-13-01')).toMatch(/is not a date: there is no month 13$/);
    expect(build('2026-01-01T24:00:00.000Z')).toMatch(/hour 24 is not a time of day \(00 to 23\)$/);
    expect(build('2026-01-01T23:60:00Z')).toMatch(/minute 60 does not exist/);
    expect(build('2026-01-01T23:59:60Z')).toMatch(
      /second 60 does not exist \(00 to 59; leap seconds are not kept\)$/,
    );
    // A right calendar in a wrong form is the format's error.
    expect(build('2026-01-01T10:00:00 GMT')).toBe(TIMESTAMP_FORMAT_ERROR);
  });

  it('keeps ISO 8601 timestamps and epoch ms as sent, the original beside them', () => {
    expect(built('2026-12-01T10:00:00.123Z')).toMatchObject({
      timestamp: '2026-12-01T10:00:00.123Z',
      originalTimestamp: '2026-12-01T10:00:00.123Z',
    });
    expect(built('2026-12-01T10:00:00.123456+01:00').timestamp).toBe('2026-12-01T09:00:00.123Z');
    expect(built('2026-12-01').timestamp).toBe('2026-12-01T00:00:00.000Z');
    expect(built(1_764_583_200_000).timestamp).toBe('2025-12-01T10:00:00.000Z');
    // Long past is kept as sent: retention's to delete.
    expect(built('1999-01-01T00:00:00.000Z').timestamp).toBe('1999-01-01T00:00:00.000Z');
  });

  it('puts a timestamp more than 23 h ahead of receive time at receive time, keeping the original', () => {
    for (const ts of ['+275760-09-13T00:00:00.000Z', '9999-12-31T23:59:59.999Z', 1e15, 8.64e15]) {
      const e = built(ts);
      expect(e.timestamp).toBe(ctx.receivedAt);
      expect(Date.parse(e.originalTimestamp!)).toBe(typeof ts === 'number' ? ts : Date.parse(ts));
    }
    const justInside = new Date(RECEIVED_MS + MAX_FUTURE_MS).toISOString();
    expect(built(justInside).timestamp).toBe(justInside);
    const justOutside = new Date(RECEIVED_MS + MAX_FUTURE_MS + 1).toISOString();
    expect(built(justOutside)).toMatchObject({ timestamp: ctx.receivedAt, originalTimestamp: justOutside });
  });

  it('judges the future after clock-skew correction', () => {
    // The client's clock runs two days ahead; its sent_at says so: corrected, not replaced.
    const twoDays = 2 * 86_400_000;
    const ahead = new Date(RECEIVED_MS + twoDays - 5000).toISOString();
    expect(built(ahead, -twoDays)).toMatchObject({
      timestamp: new Date(RECEIVED_MS - 5000).toISOString(),
      originalTimestamp: ahead,
    });
    // A timestamp inside the window that the correction pushes past it: the correction is what
    // is wrong (the clock was set back between track and send), the event's own time is kept.
    const soon = new Date(RECEIVED_MS + 3_600_000).toISOString();
    expect(built(soon, twoDays)).toMatchObject({ timestamp: soon, originalTimestamp: soon });
  });

  it('does not apply a correction that would date the event more than 23 h ahead (a sent_at from a clock reset to 1970, or in seconds)', () => {
    // Tracked three hours ago on a right clock, sent by a run whose clock was reset.
    const tracked = new Date(RECEIVED_MS - 3 * 3_600_000).toISOString();
    for (const sentAt of ['1970-01-02T00:00:00.000Z', Math.floor(RECEIVED_MS / 1000), 0]) {
      const e = built(tracked, clockSkewMs(sentAt, RECEIVED_MS));
      expect([sentAt, e.timestamp, e.originalTimestamp]).toEqual([sentAt, tracked, tracked]);
    }
    // Its own time past the future bound too: receive time, as without a correction.
    const ahead = new Date(RECEIVED_MS + 2 * MAX_FUTURE_MS).toISOString();
    expect(built(ahead, clockSkewMs('1970-01-02T00:00:00.000Z', RECEIVED_MS)).timestamp).toBe(ctx.receivedAt);
    // A clock days behind that says so in its sent_at is still corrected.
    const day = 86_400_000;
    const behind = new Date(RECEIVED_MS - 3 * day - 4000).toISOString();
    expect(built(behind, 3 * day).timestamp).toBe(new Date(RECEIVED_MS - 4000).toISOString());
  });

  it('does not apply a correction that would date the event more than a year back (a sent_at in microseconds or from year 9999)', () => {
    const sent = new Date(RECEIVED_MS - 2_000).toISOString();
    for (const sentAt of [RECEIVED_MS * 1000, '9999-12-31T00:00:00.000Z', 8.64e15]) {
      const e = built(sent, clockSkewMs(sentAt, RECEIVED_MS));
      expect([sentAt, e.timestamp]).toEqual([sentAt, sent]);
      expect(e.originalTimestamp).toBe(sent);
    }
    // Still the future bound on the client's own timestamp.
    const ahead = new Date(RECEIVED_MS + 2 * MAX_FUTURE_MS).toISOString();
    expect(built(ahead, clockSkewMs('9999-12-31T00:00:00.000Z', RECEIVED_MS)).timestamp).toBe(ctx.receivedAt);
    // A queue that waited up to the bound on a clock a day behind is corrected as before.
    const day = 86_400_000;
    const waited = new Date(RECEIVED_MS - day - MAX_CORRECTED_AGE_MS + 1).toISOString();
    expect(built(waited, day).timestamp).toBe(new Date(RECEIVED_MS - MAX_CORRECTED_AGE_MS + 1).toISOString());
    const older = new Date(RECEIVED_MS - day - MAX_CORRECTED_AGE_MS - 1).toISOString();
    expect(built(older, day).timestamp).toBe(older);
  });
});
