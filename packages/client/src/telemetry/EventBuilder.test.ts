import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safeClone } from '../pipeline/safeSerialize.js';
import { defaultSafeLimits } from '../pipeline/safeSerialize.js';
import { Sampler } from '../pipeline/sampling.js';
import type { HomingEvent } from '../event.js';
import { EventBuilder } from './EventBuilder.js';
import { buildRedactor } from './redactor.js';

const parts = (beforeSend?: (e: HomingEvent) => HomingEvent) =>
  new EventBuilder({
    sampler: new Sampler(),
    redact: buildRedactor(false),
    beforeSend,
    propertyLimits: defaultSafeLimits,
    maxEventBytes: 1024 * 1024,
  });

describe('EventBuilder', () => {
  it('writes the same event on its fast path as JSON.stringify of the merged event (key order aside)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.dictionary(fc.string(), fc.jsonValue()),
        // Names as track() passes them on: already trimmed, 1 to 200 characters.
        fc.string({ minLength: 1, maxLength: 200 }).filter((s) => s.trim() === s && s !== ''),
        fc.string({ minLength: 1 }),
        (own, sup, name, distinctId) => {
          const fast = parts();
          const slow = parts((e) => e);
          const superProps = safeClone(sup).value as Record<string, unknown>;
          fast.setSuperProperties(structuredClone(superProps));
          slow.setSuperProperties(structuredClone(superProps));
          const tracked = {
            uuid: '01900000-0000-7000-8000-000000000000',
            name,
            nowMs: 1_700_000_000_000,
            sessionId: 's',
          };
          const clone = safeClone(own).value as Record<string, unknown>;
          const a = fast.build({ ...tracked, properties: structuredClone(clone) }, distinctId);
          const b = slow.build({ ...tracked, properties: structuredClone(clone) }, distinctId);
          expect(a.ok && b.ok).toBe(true);
          if (a.ok && b.ok) {
            expect(JSON.parse(a.record.json)).toEqual(JSON.parse(b.record.json));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a beforeSend that edits nested super properties changes only the event it was given', () => {
    const b = parts((e) => {
      if (e.event !== 'one') return e;
      const ctx = e.properties.ctx as Record<string, unknown>;
      delete ctx.plan;
      ctx.user = 'edited';
      (e.properties.list as number[]).push(2);
      return e;
    });
    b.setSuperProperties({ ctx: { plan: 'pro', user: 'orig' }, list: [1] });
    const tracked = { uuid: 'u', nowMs: 0, sessionId: 's', properties: {} };
    const first = b.build({ ...tracked, name: 'one' }, 'd');
    const second = b.build({ ...tracked, name: 'two' }, 'd');
    expect(first.ok && JSON.parse(first.record.json).properties).toMatchObject({
      ctx: { user: 'edited' },
      list: [1, 2],
    });
    expect(second.ok && JSON.parse(second.record.json).properties).toMatchObject({
      ctx: { plan: 'pro', user: 'orig' },
      list: [1],
    });
  });

  it('keeps the enrichment keys its own, whatever the app or super properties say', () => {
    const b = parts();
    b.setSuperProperties({ $lib: 'fake', keep: 1 });
    const r = b.build(
      { uuid: 'u', name: 'e', nowMs: 0, sessionId: 'real', properties: { $session_id: 'fake', keep: 2 } },
      'd',
    );
    expect(r.ok && JSON.parse(r.record.json).properties).toEqual({
      keep: 2,
      $session_id: 'real',
      $lib: '@homing/client',
      $lib_version: expect.any(String),
    });
  });

  it('keys the record by the uuid beforeSend sends the event with (its own idempotency key), refusing one over 255 bytes', () => {
    const own = parts((e) => ({ ...e, uuid: `order-${String(e.properties.n)}` }));
    const tracked = { uuid: '01900000-0000-7000-8000-000000000000', name: 'e', nowMs: 0, sessionId: 's' };
    const r = own.build({ ...tracked, properties: { n: 7 } }, 'd');
    expect(r.ok && r.record.uuid).toBe('order-7');
    expect(r.ok && JSON.parse(r.record.json).uuid).toBe('order-7');
    // Unchanged by the hook: the tracked one.
    const same = parts((e) => e).build({ ...tracked, properties: {} }, 'd');
    expect(same.ok && same.record.uuid).toBe(tracked.uuid);
    // 100 characters of 3 bytes each: under 255 characters, over 255 bytes.
    const long = parts((e) => ({ ...e, uuid: '€'.repeat(100) })).build({ ...tracked, properties: {} }, 'd');
    expect(long).toMatchObject({
      ok: false,
      reason: 'rejected',
      detail: expect.stringMatching(/broke the uuid/),
    });
    const fits = parts((e) => ({ ...e, uuid: '€'.repeat(85) })).build({ ...tracked, properties: {} }, 'd');
    expect(fits.ok && fits.record.uuid).toBe('€'.repeat(85));
  });
});
