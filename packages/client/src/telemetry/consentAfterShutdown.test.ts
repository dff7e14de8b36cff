import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientFor, Sink } from './telemetry.test-helpers.js';

function filesHolding(directory: string, text: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (readFileSync(file).includes(text)) found.push(path.relative(directory, file));
    }
  };
  walk(directory);
  return found;
}

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

  it('set while shutdown() still flushes (a SIGTERM drain), is remembered: the next run sends nothing', async () => {
    const hanging = await Sink.start(() => new Promise(() => {}));
    cleanups.push(() => hanging.down());
    const up = await Sink.start();
    cleanups.push(() => up.down());
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-during-shutdown-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const warnings: string[] = [];
    const logger = { debug() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const first = clientFor(hanging, { storage: 'file', directory, name: 'drain-denial', logger });
    first.identify('user-42');
    first.track('before');
    await first.persist();
    const shutdown = first.shutdown({ timeoutMs: 1_000 });
    await new Promise((r) => setTimeout(r, 100));
    first.setConsent('denied');
    await shutdown;
    expect(warnings.filter((w) => w.includes('is not remembered'))).toEqual([]);
    // The denial removed the kept id as well, as one before shutdown() does.
    expect(filesHolding(directory, 'user-42')).toEqual([]);
    const second = clientFor(up, { storage: 'file', directory, name: 'drain-denial' });
    second.track('next.run');
    await second.flush({ timeoutMs: 2_000 });
    expect((await second.stats()).dropped.consent).toBeGreaterThanOrEqual(1);
    await second.shutdown({ timeoutMs: 1_000 });
    expect(up.acceptedUuids).toEqual([]);
  });
});
