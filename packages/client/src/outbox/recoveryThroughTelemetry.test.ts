import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  promises as fs,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SinkHandler } from '../delivery/delivery.test-helpers.js';
import type { HomingEvent } from '../event.js';
import type { Logger } from '../logger.js';
import { runOptionsChild } from '../telemetry/__fixtures__/spawnOptionsChild.js';
import { IDENTITY_FILE } from '../telemetry/identityFile.node.js';
import { INSTALL_ID_FILE } from '../telemetry/installIdFile.node.js';
import { clientFor, Sink, sinkEvents, until } from '../telemetry/telemetry.test-helpers.js';
import { FileOutbox } from './file-log/FileOutbox.js';

/**
 * A client whose outbox directory cannot be used at start (a file stands where its parent should
 * be: root cannot write through that either), fixed while it runs, against a real sink on
 * loopback.
 */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function blockedDirectory(): { directory: string; fix(): void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'homing-recovery-e2e-'));
  cleanups.push(() => fs.rm(root, { recursive: true, force: true }));
  const blocker = path.join(root, 'cache');
  writeFileSync(blocker, 'in the way');
  return { directory: path.join(blocker, 'homing', 'app'), fix: () => rmSync(blocker) };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, warn: (message: string) => void warnings.push(message), error() {} };
}

const RECOVERED = /^outbox: the directory can be used again; \d+ events moved to disk$/;

async function startSink(handler: SinkHandler): Promise<Sink> {
  const sink = await Sink.start(handler);
  cleanups.push(() => sink.down());
  return sink;
}

/** The events a later run finds in `directory`, by name. */
async function namesOnDisk(directory: string): Promise<string[]> {
  const next = new FileOutbox({ directory });
  const names: string[] = [];
  for (;;) {
    const batch = await next.claim(1000, Infinity);
    if (batch === null) break;
    for (const r of batch.records) names.push((JSON.parse(r.json) as HomingEvent).event);
    await next.ack(batch);
  }
  await next.close();
  return names;
}

/** Each accepted uuid once, and the names of the events accepted. */
function accepted(sink: Sink): { names: string[]; duplicates: number } {
  const events = sinkEvents(sink).filter((e) => sink.acceptedUuids.includes(e.uuid));
  const unique = new Map(events.map((e) => [e.uuid, e.event]));
  return { names: [...unique.values()].sort(), duplicates: sink.acceptedUuids.length - unique.size };
}

describe('a client whose outbox directory becomes usable after it started', () => {
  it('stores again once it can: events tracked before and after are delivered exactly once', async () => {
    const { directory, fix } = blockedDirectory();
    const sink = await startSink(() => ({ status: 202, body: '{}' }));
    const logger = recordingLogger();
    // Pending: stored, not sent, so the events tracked first are still in memory at the switch.
    const t = clientFor(sink, {
      storage: 'file',
      directory,
      logger,
      distinctId: 'u1',
      consent: 'pending',
      rememberConsent: false,
    });
    cleanups.push(() => t.shutdown({ timeoutMs: 1_000 }));
    for (const name of ['a1', 'a2', 'a3']) t.track(name);
    await expect(t.persist()).rejects.toMatchObject({ kind: 'io' });
    fix();
    await until(() => logger.warnings.some((w) => RECOVERED.test(w)), 15_000, 'the recovery');
    t.track('b1');
    t.track('b2');
    await t.persist();
    t.setConsent('granted');
    await until(() => sink.acceptedUuids.length >= 5, 15_000, 'five events accepted');
    await t.shutdown({ timeoutMs: 5_000 });
    expect(accepted(sink)).toEqual({ names: ['a1', 'a2', 'a3', 'b1', 'b2'], duplicates: 0 });
    expect(logger.warnings.filter((w) => RECOVERED.test(w))).toEqual([
      'outbox: the directory can be used again; 3 events moved to disk',
    ]);
    expect(await namesOnDisk(directory)).toEqual([]);
  });

  it.each([
    ['answered after the switch (acked): not sent again from disk', 202],
    ['refused after the switch (released): sent again from disk, once', 503],
  ])('a batch in flight across the switch, %s', { timeout: 30_000 }, async (_name, firstStatus) => {
    const { directory, fix } = blockedDirectory();
    let requests = 0;
    let firstArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    let answerFirst: () => void = () => {};
    const answer = new Promise<void>((resolve) => (answerFirst = resolve));
    const sink = await startSink(async () => {
      if (++requests > 1) return { status: 202, body: '{}' };
      firstArrived();
      await answer;
      return { status: firstStatus, body: '{}' };
    });
    const logger = recordingLogger();
    const t = clientFor(sink, {
      storage: 'file',
      directory,
      logger,
      distinctId: 'u1',
      rememberConsent: false,
      delivery: { breaker: { threshold: 1_000_000 } },
    });
    cleanups.push(() => t.shutdown({ timeoutMs: 1_000 }));
    for (const name of ['a1', 'a2', 'a3']) t.track(name);
    await arrived;
    fix();
    await until(() => logger.warnings.some((w) => RECOVERED.test(w)), 15_000, 'the recovery');
    t.track('b1');
    answerFirst();
    await until(() => accepted(sink).names.length >= 4, 15_000, 'four events accepted');
    await t.flush({ timeoutMs: 5_000 });
    await t.shutdown({ timeoutMs: 5_000 });
    expect(accepted(sink)).toEqual({ names: ['a1', 'a2', 'a3', 'b1'], duplicates: 0 });
    expect(await namesOnDisk(directory)).toEqual([]);
  });

  it('a restart after the recovery finds on disk what was not delivered, from before and after it', async () => {
    const { directory, fix } = blockedDirectory();
    const sink = await startSink(() => ({ status: 503, body: '{}' }));
    const logger = recordingLogger();
    const t = clientFor(sink, {
      storage: 'file',
      directory,
      logger,
      distinctId: 'u1',
      consent: 'pending',
      rememberConsent: false,
    });
    for (const name of ['a1', 'a2']) t.track(name);
    // The client must have found the directory unusable before it is fixed: on a loaded machine
    // its first open could come after fix(), succeed, and no recovery would ever be logged.
    await expect(t.persist()).rejects.toMatchObject({ kind: 'io' });
    fix();
    await until(() => logger.warnings.some((w) => RECOVERED.test(w)), 15_000, 'the recovery');
    t.track('b1');
    await t.shutdown({ timeoutMs: 2_000 });
    expect(await namesOnDisk(directory)).toEqual(['a1', 'a2', 'b1']);
  });

  it('the install id made for the run is stored once the directory can be used: the next run is the same install', async () => {
    const { directory, fix } = blockedDirectory();
    const sink = await startSink(() => ({ status: 202, body: '{}' }));
    const logger = recordingLogger();
    const t = clientFor(sink, { storage: 'file', directory, logger });
    t.track('before');
    await t.flush({ timeoutMs: 5_000 });
    fix();
    await until(() => existsSync(path.join(directory, INSTALL_ID_FILE)), 15_000, 'the install id stored');
    t.track('after');
    await t.shutdown({ timeoutMs: 5_000 });
    const next = clientFor(sink, { storage: 'file', directory });
    next.track('next-run');
    await next.shutdown({ timeoutMs: 5_000 });
    const events = sinkEvents(sink);
    expect(events.map((e) => e.event)).toEqual(['before', 'after', 'next-run']);
    expect(new Set(events.map((e) => e.distinct_id)).size).toBe(1);
    expect(readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim()).toBe(events[0]!.distinct_id);
  });

  it("an install id stored meanwhile wins for the events built after the recovery; those built before keep the run's", async () => {
    const { directory, fix } = blockedDirectory();
    const sink = await startSink(() => ({ status: 202, body: '{}' }));
    const logger = recordingLogger();
    const t = clientFor(sink, { storage: 'file', directory, logger });
    t.track('before');
    await t.flush({ timeoutMs: 5_000 });
    fix();
    // Another process made the directory, and its install id, first.
    const stored = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, INSTALL_ID_FILE), `${stored}\n`);
    await until(() => logger.warnings.some((w) => RECOVERED.test(w)), 15_000, 'the recovery');
    await until(
      async () => {
        t.track('after');
        await t.flush({ timeoutMs: 5_000 });
        return sinkEvents(sink).at(-1)!.distinct_id === stored;
      },
      15_000,
      'the stored install id',
    );
    await t.shutdown({ timeoutMs: 5_000 });
    const [before] = sinkEvents(sink);
    expect(before!.event).toBe('before');
    expect(before!.distinct_id).not.toBe(stored);
    expect(readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim()).toBe(stored);
  });

  it("identify()'s id, not kept while the directory could not be used, is kept once it can", async () => {
    const { directory, fix } = blockedDirectory();
    const sink = await startSink(() => ({ status: 202, body: '{}' }));
    const logger = recordingLogger();
    const t = clientFor(sink, { storage: 'file', directory, logger });
    t.identify('user-7');
    const notKept = 'could not keep the identity for the next run';
    await until(() => logger.warnings.includes(notKept), 15_000, 'the identity not kept');
    fix();
    await until(() => existsSync(path.join(directory, IDENTITY_FILE)), 15_000, 'the identity kept');
    await t.shutdown({ timeoutMs: 5_000 });
    const next = clientFor(sink, { storage: 'file', directory });
    next.track('next-run');
    await next.shutdown({ timeoutMs: 5_000 });
    expect(sinkEvents(sink).at(-1)).toMatchObject({ event: 'next-run', distinct_id: 'user-7' });
  });

  it('a one-event script ends by itself while the directory still cannot be used (child process)', async () => {
    const { directory } = blockedDirectory();
    const sink = await startSink(() => ({ status: 202, body: '{}' }));
    const run = await runOptionsChild({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
      storage: 'file',
      directory,
      distinctId: 'u',
    });
    expect({ code: run.code, signal: run.signal }, run.stderr).toEqual({ code: 0, signal: null });
    expect(run.tracked).toHaveLength(1);
    expect(sink.acceptedUuids).toEqual(run.tracked);
  });
});
