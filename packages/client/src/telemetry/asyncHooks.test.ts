import { describe, expect, it } from 'vitest';
import { useUnhandledRejections } from '../unhandledRejections.test-helpers.js';
import { capturingClient } from './telemetry.test-helpers.js';
import type { TelemetryOptions } from './options.js';

const ASYNC = 'returned a Promise: hooks must be synchronous';

async function run(options: Partial<TelemetryOptions>) {
  const { client: t, received } = capturingClient(options);
  const drops: { reason: string; detail?: string | undefined }[] = [];
  t.on('drop', (d) => void drops.push({ reason: d.reason, detail: d.detail }));
  t.track('e', { a: 'x', n: 1 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  await t.shutdown({ timeoutMs: 1_000 });
  return { received, drops, stats: await t.stats() };
}

describe('async hooks (the pipeline is synchronous)', () => {
  const unhandled = useUnhandledRejections();

  const failing = async (): Promise<never> => {
    throw new Error('async hook failed');
  };

  it.each([
    ['beforeSend', { beforeSend: failing }, `beforeSend ${ASYNC}`],
    ['redaction.custom', { redaction: { custom: failing } }, `redaction.custom ${ASYNC}`],
    [
      'redaction.patterns.redact',
      { redaction: { patterns: { redact: failing } } },
      `redaction.patterns.redact ${ASYNC}`,
    ],
  ] as const)(
    'an async %s that rejects: no unhandled rejection, the event dropped and why',
    async (_n, options, detail) => {
      // Their types say synchronous; JavaScript, or a cast, lets an async one through.
      const r = await run(options as unknown as Partial<TelemetryOptions>);
      expect(unhandled).toEqual([]);
      expect(r.received).toEqual([]);
      expect(r.stats.dropped.rejected).toBe(1);
      expect(r.drops.some((d) => d.reason === 'rejected' && d.detail?.includes(detail))).toBe(true);
    },
  );

  it('an async custom that resolves is not taken for the properties (every one was lost)', async () => {
    const r = await run({ redaction: { custom: (async (p: object) => p) as never } });
    expect(r.received).toEqual([]);
    expect(r.stats.dropped.rejected).toBe(1);
    expect(r.drops[0]?.detail).toContain(`redaction.custom ${ASYNC}`);
  });

  it('an async beforeSend that resolves is dropped with that reason, not "broke the uuid"', async () => {
    const r = await run({ beforeSend: (async (e: object) => e) as never });
    expect(r.received).toEqual([]);
    expect(r.drops[0]?.detail).toBe(`beforeSend ${ASYNC}`);
  });

  it('custom must answer a plain object: not an array, a Map or a class instance', async () => {
    class Props {
      a = 'x';
    }
    for (const answer of [() => [], () => new Map(), () => new Props()]) {
      const r = await run({ redaction: { custom: answer as never } });
      expect(r.received).toEqual([]);
      expect(r.drops[0]?.detail).toContain('redaction.custom must answer a');
    }
    const bare = await run({ redaction: { custom: (p) => Object.assign(Object.create(null), p) } });
    expect(bare.received[0]?.properties.a).toBe('x');
  });
});
