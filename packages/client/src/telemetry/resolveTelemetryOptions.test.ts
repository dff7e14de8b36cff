import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { testPlatform } from './telemetry.test-helpers.js';
import { TELEMETRY_DEFAULTS } from './options.js';
import type { TelemetryOptions } from './options.js';
import { resolveTelemetryOptions } from './resolveTelemetryOptions.js';

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
  });
});
