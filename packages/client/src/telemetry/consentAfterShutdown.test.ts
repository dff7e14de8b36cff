import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientFor, Sink } from './telemetry.test-helpers.js';

describe('setConsent() after shutdown()', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('is not remembered, and says so in a warning (it used to be dropped silently: the next run sent)', async () => {
    const sink = await Sink.start();
    cleanups.push(() => sink.down());
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-after-shutdown-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const warnings: string[] = [];
    const logger = { debug() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const first = clientFor(sink, { storage: 'file', directory, name: 'late-denial', logger });
    await first.shutdown({ timeoutMs: 1_000 });
    first.setConsent('denied');
    expect(warnings).toContainEqual(
      expect.stringMatching(/^setConsent\('denied'\) after shutdown\(\) is not remembered for the next runs/),
    );
    // What the warning says: the next run did not get the denial.
    const second = clientFor(sink, { storage: 'file', directory, name: 'late-denial' });
    second.track('next.run');
    await second.flush({ timeoutMs: 5_000 });
    await second.shutdown({ timeoutMs: 1_000 });
    expect(sink.acceptedUuids.length).toBe(1);
  });
});
