import { describe, expect, it } from 'vitest';
import type { IngestEvent } from '../store/store.js';
import {
  buildIngestEvent,
  MAX_INDEXED_ID_BYTES,
  type BuildContext,
  type EventParts,
} from './buildIngestEvent.js';

const RECEIVED_MS = Date.parse('2026-12-03T12:00:00.000Z');
const DAY_MS = 86_400_000;
const ctx: BuildContext = {
  receivedMs: RECEIVED_MS,
  receivedAt: new Date(RECEIVED_MS).toISOString(),
  maxEventBytes: 1_000_000,
  maxPropertiesDepth: 32,
};

function build(parts: Partial<EventParts>, c: BuildContext = ctx): IngestEvent | string {
  return buildIngestEvent(
    {
      uuid: undefined,
      event: 'e',
      distinctId: 'x',
      timestamp: undefined,
      properties: {},
      skewMs: 0,
      ...parts,
    },
    c,
  );
}

function built(parts: Partial<EventParts>, c: BuildContext = ctx): IngestEvent {
  const b = build(parts, c);
  if (typeof b === 'string') throw new Error(`refused: ${b}`);
  return b;
}

/** `n` CJK characters, 3 UTF-8 bytes each. */
const cjk = (n: number): string =>
  Array.from({ length: n }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');

describe('buildIngestEvent: numeric distinct ids', () => {
  it('takes a safe integer as its decimal string', () => {
    expect(built({ distinctId: 42 }).distinctId).toBe('42');
    expect(built({ distinctId: -7 }).distinctId).toBe('-7');
    expect(built({ distinctId: Number.MAX_SAFE_INTEGER }).distinctId).toBe('9007199254740991');
  });

  it('takes an integer past 2^53 as the text it writes back as (parsePayload made those it would change strings), refuses the rest', () => {
    // What reaches here from a body is a number whose double writes back as the text sent
    // (inexactNumbers.ts): 2^60 as a JavaScript sender writes it.
    expect(built({ distinctId: 2 ** 60 }).distinctId).toBe('1152921504606847000');
    expect(built({ distinctId: 2 ** 53 }).distinctId).toBe('9007199254740992');
    for (const id of [-Infinity, Infinity, Number.NaN, 1.5, 1e21, -1e300]) {
      const r = build({ distinctId: id });
      expect([id, r]).toEqual([id, expect.stringMatching(/^distinct_id is a number .*send it as a string$/)]);
    }
    const segment = build({ distinctId: 2.5, names: { uuid: 'messageId', distinctId: 'userId' } });
    expect(segment).toMatch(/^userId is a number/);
  });
});

describe('buildIngestEvent: indexed ids in UTF-8 bytes', () => {
  it(`refuses a distinct_id or event over ${MAX_INDEXED_ID_BYTES} UTF-8 bytes, though within 1000 characters`, () => {
    const long = cjk(1000); // 3000 bytes: over PostgreSQL's index row limit
    expect(build({ distinctId: long })).toBe(
      `distinct_id longer than ${MAX_INDEXED_ID_BYTES} bytes of UTF-8 (it has 3000; the limit of an indexed id, whatever its script)`,
    );
    expect(build({ event: long })).toMatch(/^event longer than 2000 bytes of UTF-8/);
    expect(build({ distinctId: cjk(667) })).toMatch(/longer than 2000 bytes/);
    expect(build({ distinctId: long, names: { uuid: 'messageId', distinctId: 'anonymousId' } })).toMatch(
      /^anonymousId longer than 2000 bytes/,
    );
  });

  it('takes every id within both limits: 666 CJK characters, 1000 of a 2-byte script, 1000 ASCII', () => {
    expect(built({ distinctId: cjk(666), event: cjk(666) }).distinctId).toBe(cjk(666));
    expect(built({ distinctId: 'é'.repeat(1000) }).distinctId).toHaveLength(1000);
    expect(built({ event: 'x'.repeat(1000) }).event).toHaveLength(1000);
    // The uuid is not indexed as text (its 16-byte key is): only the character rule.
    expect(built({ uuid: cjk(1000) }).uuid).toBe(cjk(1000));
  });
});

describe('buildIngestEvent: distinct ids a URL path cannot carry', () => {
  it('refuses "." and "..", naming the field of the wire format and why', () => {
    expect(build({ distinctId: '..' })).toBe(
      'distinct_id ".." is refused: URLs read it as a path step, so the person\'s data could not be reached at /api/persons/<id>; send another id',
    );
    expect(build({ distinctId: '.' })).toMatch(/^distinct_id "\." is refused: URLs read it as a path step/);
    for (const distinctId of ['userId', 'anonymousId']) {
      expect(build({ distinctId: '..', names: { uuid: 'messageId', distinctId } })).toMatch(
        new RegExp(`^${distinctId} "\\.\\." is refused`),
      );
    }
  });

  it('takes other ids with dots or slashes, and "." as an event name', () => {
    for (const id of ['...', '. ', ' ..', '.a', 'a.', '../x', 'x/..', 'a/../b', '/', '%2e%2e', '\u2025']) {
      expect(built({ distinctId: id }).distinctId).toBe(id);
    }
    expect(built({ event: '..' }).event).toBe('..');
  });
});

describe('buildIngestEvent: timestamps older than the retention period', () => {
  const ninety: BuildContext = { ...ctx, retentionMs: 90 * DAY_MS };

  it('stores them at the receive time, the client value kept as originalTimestamp', () => {
    for (const ts of [
      0,
      -1,
      1.5,
      '1970-01-01T00:00:00Z',
      '0001-01-01T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      -8.64e15,
      RECEIVED_MS - 90 * DAY_MS - 1,
    ]) {
      const e = built({ timestamp: ts }, ninety);
      expect([ts, e.timestamp]).toEqual([ts, ctx.receivedAt]);
      expect(Date.parse(e.originalTimestamp!)).toBe(typeof ts === 'number' ? Math.trunc(ts) : Date.parse(ts));
    }
  });

  it('keeps a timestamp within the period, and every timestamp without a retention period', () => {
    const inside = new Date(RECEIVED_MS - 90 * DAY_MS).toISOString();
    expect(built({ timestamp: inside }, ninety).timestamp).toBe(inside);
    expect(built({ timestamp: '1970-01-01T00:00:00.000Z' }, { ...ctx, retentionMs: 0 }).timestamp).toBe(
      '1970-01-01T00:00:00.000Z',
    );
    expect(built({ timestamp: '1970-01-01T00:00:00.000Z' }).timestamp).toBe('1970-01-01T00:00:00.000Z');
  });

  it('judges the age after the clock-skew correction', () => {
    // A client clock 200 days behind, with sent_at: corrected to yesterday, kept.
    const skew = 200 * DAY_MS;
    const sent = new Date(RECEIVED_MS - skew - DAY_MS).toISOString();
    expect(built({ timestamp: sent, skewMs: skew }, ninety).timestamp).toBe(
      new Date(RECEIVED_MS - DAY_MS).toISOString(),
    );
    // Corrected into the past beyond the period (a sent_at from the future): receive time.
    const e = built(
      { timestamp: new Date(RECEIVED_MS - DAY_MS).toISOString(), skewMs: -100 * DAY_MS },
      ninety,
    );
    expect(e.timestamp).toBe(ctx.receivedAt);
    // Erasures judge it by when it happened, after the correction.
    expect(e.clampedFrom).toBe(new Date(RECEIVED_MS - 101 * DAY_MS).toISOString());
  });

  it('keeps the time it happened beside the receive time (clampedFrom), only for a too-old one', () => {
    expect(built({ timestamp: '1970-01-02T00:00:00Z' }, ninety).clampedFrom).toBe('1970-01-02T00:00:00.000Z');
    expect(built({ timestamp: RECEIVED_MS - DAY_MS }, ninety)).not.toHaveProperty('clampedFrom');
    // A clock ahead says nothing of a time before the receive time.
    expect(built({ timestamp: RECEIVED_MS + 30 * DAY_MS }, ninety)).not.toHaveProperty('clampedFrom');
    expect(built({}, ninety)).not.toHaveProperty('clampedFrom');
  });

  it('refuses one whose sender asserts its timestamp (an import), naming the period', () => {
    const old = new Date(RECEIVED_MS - 200 * DAY_MS).toISOString();
    const reason = `timestamp ${old} is older than the retention period of 90 days: not stored, as it would be deleted at once (an imported timestamp is kept as sent, never moved to the receive time)`;
    expect(build({ timestamp: old, timestampAsserted: true }, ninety)).toBe(reason);
    expect(build({ timestamp: old }, { ...ninety, timestampsAsserted: true })).toBe(reason);
    // Within the period, or without one: stored as sent.
    const inside = new Date(RECEIVED_MS - 89 * DAY_MS).toISOString();
    expect(built({ timestamp: inside, timestampAsserted: true }, ninety).timestamp).toBe(inside);
    expect(built({ timestamp: old, timestampAsserted: true }).timestamp).toBe(old);
    expect(build({ timestamp: old }, { ...ctx, retentionMs: 5000, timestampsAsserted: true })).toMatch(
      /retention period of 5 s:/,
    );
    expect(build({ timestamp: old }, { ...ctx, retentionMs: DAY_MS, timestampsAsserted: true })).toMatch(
      /retention period of 1 day:/,
    );
  });
});
