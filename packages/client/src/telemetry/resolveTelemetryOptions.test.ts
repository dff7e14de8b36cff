import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../delivery/delivery.test-helpers.js';
import { createTelemetry } from '../index.node.js';
import { testPlatform } from './telemetry.test-helpers.js';
import { TELEMETRY_DEFAULTS } from './options.js';
import type { TelemetryOptions } from './options.js';
import { resolveTelemetryOptions } from './resolveTelemetryOptions.js';
import { createMemoryOutbox } from '../outbox/memory.js';

const endpoints: TelemetryOptions['endpoints'] = [
  { destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' },
];

describe('telemetry options', () => {
  it('merges the defaults once', () => {
    const o = resolveTelemetryOptions({ endpoints });
    expect(o).toMatchObject({
      name: TELEMETRY_DEFAULTS.name,
      consent: 'granted',
      sessionIdleMs: 30 * 60 * 1000,
      maxEventBytes: 512 * 1024,
      durability: 'batch',
      disabled: false,
      respectDoNotTrack: true,
    });
  });

  it('keeps 0 and false where they make sense', () => {
    const o = resolveTelemetryOptions({
      endpoints,
      sessionIdleMs: 0,
      rememberConsent: false,
      respectDoNotTrack: false,
    });
    expect(o.sessionIdleMs).toBe(0);
    expect(o.rememberConsent).toBe(false);
    expect(o.respectDoNotTrack).toBe(false);
    const p = resolveTelemetryOptions({
      endpoints,
      propertyLimits: { maxStringLength: 0, maxProperties: 0 },
    });
    expect(p.propertyLimits).toMatchObject({ maxStringLength: 0, maxProperties: 0, maxDepth: 10 });
  });

  const bad: Array<[string, Record<string, unknown>]> = [
    ['options', null as unknown as Record<string, unknown>],
    ['colour', { colour: 'red' }],
    ['name', { name: '' }],
    ['consent', { consent: 'yes' }],
    // A stored choice read back as null ("not asked yet") must not mean granted.
    ['consent', { consent: null }],
    ['storage', { storage: 'floppy' }],
    ['storage', { storage: { append() {} } }],
    ['durability', { durability: 'sometimes' }],
    ['directory', { directory: '' }],
    ['sessionIdleMs', { sessionIdleMs: -1 }],
    ['sessionIdleMs', { sessionIdleMs: 1.5 }],
    ['maxEventBytes', { maxEventBytes: 10 }],
    ['beforeSend', { beforeSend: 'drop' }],
    ['redaction.fields', { redaction: { fields: 'password' } }],
    ['redaction.hashKey', { redaction: { hashKey: '' } }],
    ['redaction.custom', { redaction: { custom: 1 } }],
    ['propertyLimits.maxDepth', { propertyLimits: { maxDepth: 0 } }],
    ['propertyLimits.maxStringLenght', { propertyLimits: { maxStringLenght: 10 } }],
    ['redaction.feilds', { redaction: { feilds: ['x'] } }],
    ['distinctId', { distinctId: '  ' }],
    ['superProperties', { superProperties: [1] }],
    ['logger', { logger: console.log }],
    ['platform', { platform: {} }],
    ['now', { now: 5 }],
    ['disabled', { disabled: 'yes' }],
    ['endpoints', { endpoints: 'http://x' }],
    // The delivery resolver takes the top-level list: one here was silently unused.
    [
      'delivery.endpoints',
      { delivery: { endpoints: [{ destination: 'homing', host: 'http://x', key: 'k' }] } },
    ],
    ['outbox', { outbox: 100 }],
    ['limits.maxevents', { limits: { maxevents: 5 } }],
    ['outbox', { outbox: [100] }],
    ['outbox.persistIntervalMS', { outbox: { persistIntervalMS: 10 } }],
    ['outbox', { storage: createMemoryOutbox(), outbox: { flushEvents: 10 } }],
    // Given only to an outbox the client creates: with the app's own they bounded nothing.
    ['limits', { storage: createMemoryOutbox(), limits: { maxEvents: 5 } }],
    // What a failed lookup passes on: every such user would have been one person.
    ['distinctId', { distinctId: 'undefined' }],
    ['distinctId', { distinctId: ' Null ' }],
    ['distinctId', { distinctId: '[object Object]' }],
    ['distinctId', { distinctId: 'NaN' }],
    ['distinctId', { distinctId: 'false' }],
    // The Homing server refuses these (path steps in its person routes): every event dead-lettered.
    ['distinctId', { distinctId: '.' }],
    ['distinctId', { distinctId: ' .. ' }],
  ];
  for (const [option, input] of bad) {
    it(`names ${option} when it is wrong`, () => {
      const options = input === null ? input : { endpoints, ...input };
      expect(() => resolveTelemetryOptions(options as unknown as TelemetryOptions)).toThrow(
        expect.objectContaining({ kind: 'telemetry-option', option }),
      );
    });
  }

  it('createTelemetry also validates delivery, sampling and limits, naming the option', () => {
    const make = (o: Partial<TelemetryOptions>) => () =>
      createTelemetry({ endpoints, storage: 'memory', platform: testPlatform(), ...o });
    expect(make({ endpoints: [] })).toThrow(expect.objectContaining({ option: 'endpoints' }));
    expect(make({ endpoints: [{ destination: 'posthog', host: 'ftp://x', key: 'k' }] })).toThrow(
      expect.objectContaining({ option: 'endpoints[0].host' }),
    );
    expect(make({ delivery: { batchSize: 0 } })).toThrow(expect.objectContaining({ option: 'batchSize' }));
    expect(make({ sampling: { default: { kind: 'probabilistic', rate: 2 } } })).toThrow(
      expect.objectContaining({ option: 'sampling.default.rate' }),
    );
    expect(make({ limits: { maxEvents: 0 } })).toThrow(
      expect.objectContaining({ option: 'limits.maxEvents' }),
    );
    expect(make({ storage: 'indexeddb' })).toThrow(expect.objectContaining({ option: 'storage' }));
    // A string is shown quoted: "got 1000" read as if the number were refused.
    expect(make({ limits: { maxEvents: '1000' as unknown as number } })).toThrow(/got "1000"/);
    expect(make({ delivery: { exitFlushTimeoutMs: '5' as unknown as number } })).toThrow(/got "5"/);
  });

  it('the same Outbox given to a second client: a TelemetryOptionError naming storage; free again once the first shut down', async () => {
    const outbox = createMemoryOutbox();
    const make = () => createTelemetry({ endpoints, storage: outbox, platform: testPlatform() });
    const first = make();
    expect(make).toThrow(expect.objectContaining({ kind: 'telemetry-option', option: 'storage' }));
    await first.shutdown({ timeoutMs: 0 });
    const second = make();
    await second.shutdown({ timeoutMs: 0 });
  });

  it('a bad tuning value is named as the app wrote it (outbox.staleMs), before anything is written', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-tuning-'));
    try {
      const make = (outbox: TelemetryOptions['outbox']) => () =>
        createTelemetry({ endpoints, storage: 'file', directory: dir, platform: testPlatform(), outbox });
      const named = (option: string) => expect.objectContaining({ kind: 'telemetry-option', option });
      expect(make({ persistIntervalMs: -1 })).toThrow(named('outbox.persistIntervalMs'));
      expect(make({ flushEvents: 1.5 })).toThrow(named('outbox.flushEvents'));
      // The file outbox's own rule across two options, renamed on the way out.
      expect(make({ heartbeatMs: 1_000, staleMs: 2_000 })).toThrow(named('outbox.staleMs'));
      expect(make({ heartbeatMs: 1_000, staleMs: 2_000 })).toThrow(
        /at least 3 × heartbeatMs \(3000\), got 2000/,
      );
      expect(make({ maxSegmentBytes: 'big' as unknown as number })).toThrow(named('outbox.maxSegmentBytes'));
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tuning values are checked whichever storage is chosen: memory does not use them, a wrong one is still refused', () => {
    const make = (outbox: TelemetryOptions['outbox']) => () =>
      createTelemetry({ endpoints, storage: 'memory', platform: testPlatform(), outbox });
    expect(make({ staleMs: -1 })).toThrow(expect.objectContaining({ option: 'outbox.staleMs' }));
    expect(make({ staleMs: 'x' as unknown as number })).toThrow(/outbox\.staleMs.*got "x"/);
    expect(make({ leaseMs: 50 })).toThrow(expect.objectContaining({ option: 'outbox.leaseMs' }));
    expect(make({ flushOnHide: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ option: 'outbox.flushOnHide' }),
    );
    expect(make({ claimCacheBytes: Number.NaN })).toThrow(
      expect.objectContaining({ option: 'outbox.claimCacheBytes' }),
    );
    // Values in range, and undefined (the default), are taken.
    for (const ok of [{ staleMs: 1 }, { persistIntervalMs: 0, flushOnHide: false }, { leaseMs: undefined }]) {
      const client = make(ok)();
      void client.shutdown({ timeoutMs: 0 });
    }
  });

  it('delays past 2^31-1 ms are refused: Node would warn on stderr and fire the timer after 1 ms', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-tuning-'));
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (const outbox of [
        { persistIntervalMs: 3e9 },
        { heartbeatMs: 3e9 },
        { staleMs: 2 ** 31 },
        { leaseMs: 1e300 },
      ]) {
        const key = Object.keys(outbox)[0]!;
        for (const storage of ['file', 'memory'] as const) {
          expect(() =>
            createTelemetry({ endpoints, storage, directory: dir, platform: testPlatform(), outbox }),
          ).toThrow(expect.objectContaining({ option: `outbox.${key}` }));
        }
      }
      expect(() =>
        createTelemetry({
          endpoints,
          storage: 'memory',
          platform: testPlatform(),
          outbox: { heartbeatMs: 3e9 },
        }),
      ).toThrow(/from 10 to 2147483647, got 3000000000/);
      // The greatest delay is taken, and no timer of it overflows.
      const client = createTelemetry({
        endpoints,
        storage: 'file',
        directory: dir,
        platform: testPlatform(),
        outbox: { persistIntervalMs: 2_147_483_647, heartbeatMs: 536_870_911, staleMs: 2_147_483_647 },
      });
      client.track('one');
      await new Promise((resolve) => setTimeout(resolve, 50));
      await client.shutdown({ timeoutMs: 1_000 });
      expect(warnings.map(String)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('outbox.persistIntervalMs reaches the file outbox: an event waits that long before it is on disk, 0 writes it at once', async () => {
    const segmentBytes = (dir: string): number =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.open') || n.endsWith('.log'))
        .reduce((sum, n) => sum + statSync(path.join(dir, n)).size, 0);
    const slow = mkdtempSync(path.join(os.tmpdir(), 'homing-tuning-'));
    const fast = mkdtempSync(path.join(os.tmpdir(), 'homing-tuning-'));
    const make = (directory: string, persistIntervalMs: number) =>
      createTelemetry({
        endpoints,
        storage: 'file',
        directory,
        distinctId: 'u',
        platform: testPlatform(),
        // Pending: nothing is claimed, and a claim writes what is buffered first.
        consent: 'pending',
        rememberConsent: false,
        delivery: { intervalMs: 60_000, flushOnExit: false },
        // Shared across storages: the file outbox ignores the browser's keys.
        outbox: { persistIntervalMs, flushEvents: 1_000, leaseMs: 500, flushOnHide: false },
      });
    const a = make(slow, 60_000);
    const b = make(fast, 0);
    try {
      a.track('waits');
      b.track('written.at.once');
      await until(() => segmentBytes(fast) > 0, 5_000, 'the write with persistIntervalMs 0');
      await new Promise((r) => setTimeout(r, 300));
      expect(segmentBytes(slow)).toBe(0);
      await a.persist();
      expect(segmentBytes(slow)).toBeGreaterThan(0);
    } finally {
      await a.shutdown({ timeoutMs: 0 });
      await b.shutdown({ timeoutMs: 0 });
      rmSync(slow, { recursive: true, force: true });
      rmSync(fast, { recursive: true, force: true });
    }
  });
});
