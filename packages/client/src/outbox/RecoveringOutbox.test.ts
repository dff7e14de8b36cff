import { mkdtempSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constantBackoff } from '@homing/resilience';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { breakerStateKey, ENDPOINTS_STATE_KEY } from '../delivery/EndpointChannel.js';
import type { Logger } from '../logger.js';
import { createLazyNodePlatform } from '../platform/lazyNodePlatform.js';
import { until } from '../delivery/delivery.test-helpers.js';
import { CONSENT_STATE_KEY } from '../telemetry/consentStateKey.js';
import { INSTALL_ID_STATE_KEY } from '../telemetry/installId.js';
import { createFileOutbox, memoryStandIn, openedFileOutbox } from './file-log/createFileOutbox.js';
import { FileOutbox } from './file-log/FileOutbox.js';
import type { FileOutboxOptions } from './file-log/options.js';
import { DeferredOutbox } from './DeferredOutbox.js';
import { describeOutboxContract, drain, makeRecords } from './outbox.contract.js';
import type { DurableOutbox } from './RecoveringOutbox.js';
import type { OutboxDrop, OutboxLimits } from './outbox.js';
import { RecoveringOutbox } from './RecoveringOutbox.js';
import { storesAgain } from './storesAgain.js';
import { BREAKER_KEY_PREFIX, ENDPOINT_LIST_KEY } from './stateAfterRecovery.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-recovering-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An outbox directory that cannot be made while a file stands where its parent should be (as
 * root too, which a read-only mode would not stop); `fix` removes the file.
 */
function blockedDirectory(): { directory: string; fix(): void } {
  const blocker = path.join(tempDir(), 'cache');
  writeFileSync(blocker, 'in the way');
  return { directory: path.join(blocker, 'outbox'), fix: () => rmSync(blocker) };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, warn: (message: string) => void warnings.push(message), error() {} };
}

/** A recovering outbox for `directory` that tries it again every few ms. */
function recovering(
  directory: string,
  options: {
    logger?: Logger;
    limits?: Partial<OutboxLimits>;
    file?: Partial<FileOutboxOptions>;
    open?: () => Promise<DurableOutbox>;
  } = {},
): RecoveringOutbox {
  const logger = options.logger ?? recordingLogger();
  const outbox = new RecoveringOutbox({
    memory: memoryStandIn(options.limits, undefined, new Error('the directory cannot be used'), logger),
    open:
      options.open ??
      (() => openedFileOutbox(new FileOutbox({ ...options.limits, ...options.file, directory }))),
    logger,
    directory,
    backoff: constantBackoff(5),
  });
  cleanups.push(() => outbox.close());
  return outbox;
}

/** What a later run finds in `directory`, delivered (claimed and acked) in claim order. */
async function deliveredAfterRestart(directory: string): Promise<string[]> {
  const next = new FileOutbox({ directory });
  try {
    return await drain(next);
  } finally {
    await next.close();
  }
}

const uuids = (records: readonly { uuid: string }[]): string[] => records.map((r) => r.uuid);

describe('RecoveringOutbox: the file outbox takes over once its directory can be used', () => {
  it('moves what memory held to disk, in order, logs it once, and stores what comes after', async () => {
    const { directory, fix } = blockedDirectory();
    const logger = recordingLogger();
    const outbox = recovering(directory, { logger });
    const before = makeRecords(5);
    outbox.append(before);
    await expect(outbox.persist()).rejects.toMatchObject({ kind: 'io' });
    fix();
    await outbox.whenRecovered();
    const after = makeRecords(3);
    outbox.append(after);
    await outbox.persist();
    expect((await outbox.size()).events).toBe(8);
    expect(logger.warnings).toEqual(['outbox: the directory can be used again; 5 events moved to disk']);
    await outbox.close();
    expect(await deliveredAfterRestart(directory)).toEqual(uuids([...before, ...after]));
  });

  /** Six records appended on memory, three of them claimed, then the directory fixed and taken over. */
  async function claimedAcrossTheSwitch() {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory);
    const records = makeRecords(6);
    outbox.append(records);
    const inFlight = await outbox.claim(3, Infinity);
    fix();
    await outbox.whenRecovered();
    return { directory, outbox, records, inFlight };
  }

  it('a batch claimed from memory and acked after the switch is not sent again from disk', async () => {
    const { directory, outbox, records, inFlight } = await claimedAcrossTheSwitch();
    // Still waiting for its answer: counted.
    expect((await outbox.size()).events).toBe(6);
    await outbox.ack(inFlight!);
    expect((await outbox.size()).events).toBe(3);
    expect(await drain(outbox)).toEqual(uuids(records.slice(3)));
    await outbox.close();
    expect(await deliveredAfterRestart(directory)).toEqual([]);
  });

  it('a batch claimed from memory and released after the switch is delivered once, from disk', async () => {
    const { directory, outbox, records, inFlight } = await claimedAcrossTheSwitch();
    const after = makeRecords(2);
    outbox.append(after);
    await outbox.release(inFlight!);
    expect((await outbox.size()).events).toBe(8);
    const delivered = await drain(outbox);
    expect(delivered).toHaveLength(8);
    expect(new Set(delivered)).toEqual(new Set(uuids([...records, ...after])));
    await outbox.close();
    expect(await deliveredAfterRestart(directory)).toEqual([]);
  });

  it('a batch released after the switch is on disk for a restart, once', async () => {
    const { directory, outbox, records, inFlight } = await claimedAcrossTheSwitch();
    await outbox.release(inFlight!);
    await outbox.close();
    const delivered = await deliveredAfterRestart(directory);
    expect(delivered).toHaveLength(6);
    expect(new Set(delivered)).toEqual(new Set(uuids(records)));
  });

  it('a batch from memory still in flight at close is stored for the next run (sent twice rather than lost)', async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory);
    const records = makeRecords(4);
    outbox.append(records);
    const inFlight = await outbox.claim(2, Infinity);
    fix();
    await outbox.whenRecovered();
    await outbox.close();
    // The answer that comes after the close changes nothing.
    await outbox.ack(inFlight!);
    expect(new Set(await deliveredAfterRestart(directory))).toEqual(new Set(uuids(records)));
  });

  it('records of a memory batch dead-lettered after the switch are dead letters on disk', async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory);
    const records = makeRecords(4);
    outbox.append(records);
    const inFlight = await outbox.claim(2, Infinity);
    fix();
    await outbox.whenRecovered();
    await outbox.deadLetter(inFlight!.records, 'HTTP 400: bad event');
    await outbox.ack(inFlight!);
    expect(await outbox.size()).toMatchObject({ events: 2, deadLetters: 2 });
    await outbox.close();
    const next = new FileOutbox({ directory });
    const letters = await next.listDeadLetters();
    expect(uuids(letters.map((l) => l.record))).toEqual(uuids(records.slice(0, 2)));
    expect(letters.map((l) => l.reason)).toEqual(['HTTP 400: bad event', 'HTTP 400: bad event']);
    expect(await drain(next)).toEqual(uuids(records.slice(2)));
    await next.close();
  });

  it('dead letters made in memory move to disk with their reasons and times', async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory);
    const records = makeRecords(3);
    outbox.append(records);
    const batch = await outbox.claim(3, Infinity);
    await outbox.deadLetter([records[0]!], 'first reason');
    await outbox.deadLetter([records[1]!], 'second reason');
    await outbox.ack(batch!);
    const inMemory = await outbox.listDeadLetters();
    fix();
    await outbox.whenRecovered();
    expect(await outbox.listDeadLetters()).toEqual(inMemory);
    await outbox.close();
    const next = new FileOutbox({ directory });
    expect(await next.listDeadLetters()).toEqual(inMemory);
    await next.close();
  });

  it('state set in memory moves to disk; what the directory holds wins, but a later breaker change and new endpoints', async () => {
    const directory = tempDir();
    const snapshot = (since: number): object => ({
      version: 1,
      state: 'open',
      since,
      openUntil: since + 30_000,
      openings: 1,
      breaker: { count: 0 },
    });
    const earlier = new FileOutbox({ directory });
    await earlier.setState(CONSENT_STATE_KEY, 'denied');
    await earlier.setState(INSTALL_ID_STATE_KEY, 'stored-install-id');
    await earlier.setState(breakerStateKey('a'), snapshot(1_000));
    await earlier.setState(breakerStateKey('b'), snapshot(5_000));
    await earlier.setState(ENDPOINTS_STATE_KEY, ['a', 'b']);
    await earlier.close();
    let usable = false;
    const outbox = recovering(directory, {
      open: async () => {
        if (!usable) throw new Error('EMFILE: too many open files');
        return openedFileOutbox(new FileOutbox({ directory }));
      },
    });
    await outbox.setState(CONSENT_STATE_KEY, 'granted');
    await outbox.setState(INSTALL_ID_STATE_KEY, 'made-in-memory');
    await outbox.setState(breakerStateKey('a'), snapshot(2_000));
    await outbox.setState(breakerStateKey('b'), snapshot(3_000));
    await outbox.setState(breakerStateKey('c'), snapshot(4_000));
    await outbox.setState(ENDPOINTS_STATE_KEY, ['c']);
    await outbox.setState('only-in-memory', { n: 1 });
    await outbox.setState('set-then-removed', 1);
    await outbox.setState('set-then-removed', undefined);
    usable = true;
    await outbox.whenRecovered();
    await outbox.close();
    const next = new FileOutbox({ directory });
    expect(await next.getState(CONSENT_STATE_KEY)).toBe('denied');
    expect(await next.getState(INSTALL_ID_STATE_KEY)).toBe('stored-install-id');
    expect(await next.getState(breakerStateKey('a'))).toEqual(snapshot(2_000));
    expect(await next.getState(breakerStateKey('b'))).toEqual(snapshot(5_000));
    expect(await next.getState(breakerStateKey('c'))).toEqual(snapshot(4_000));
    expect(await next.getState(ENDPOINTS_STATE_KEY)).toEqual(['a', 'b', 'c']);
    expect(await next.getState('only-in-memory')).toEqual({ n: 1 });
    expect(await next.getState('set-then-removed')).toBeUndefined();
    await next.close();
  });

  it('names the state keys as the delivery does', () => {
    expect(breakerStateKey('x')).toBe(`${BREAKER_KEY_PREFIX}x`);
    expect(ENDPOINTS_STATE_KEY).toBe(ENDPOINT_LIST_KEY);
  });

  it('a clear after the switch drops a memory batch released after it (consent), and listeners hear both outboxes', async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory, { limits: { maxEvents: 4 } });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((d) => drops.push(d));
    outbox.append(makeRecords(6)); // 2 over the limit, in memory
    const inFlight = await outbox.claim(2, Infinity);
    fix();
    await outbox.whenRecovered();
    expect(await outbox.clear()).toBe(2);
    await outbox.release(inFlight!);
    outbox.append(makeRecords(6)); // 2 over the limit, on disk
    await outbox.persist();
    const total = (reason: OutboxDrop['reason']): number =>
      drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.count, 0);
    expect(total('overflow')).toBe(4);
    expect(total('consent')).toBe(4);
    await outbox.close();
    expect(await deliveredAfterRestart(directory)).toHaveLength(4);
  });

  it('persistOnExit after the switch writes, synchronously, what memory held in flight too', async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = recovering(directory, { file: { persistIntervalMs: 60_000 } });
    // Before the switch there is nowhere to write to, and nothing fails.
    outbox.persistOnExit();
    const records = makeRecords(4);
    outbox.append(records);
    await outbox.claim(2, Infinity);
    fix();
    await outbox.whenRecovered();
    const observer = new FileOutbox({ directory });
    expect((await observer.size()).events).toBe(0);
    outbox.persistOnExit();
    expect((await observer.size()).events).toBe(4);
    await observer.close();
  });

  it('tries again after 1 s, doubling up to a minute, and close() during a wait stops the tries', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let attempts = 0;
    const outbox = new RecoveringOutbox({
      memory: memoryStandIn(undefined, undefined, new Error('EACCES')),
      open: async () => {
        attempts++;
        throw new Error('EACCES: permission denied');
      },
      logger: recordingLogger(),
    });
    cleanups.push(() => outbox.close());
    const seen: number[] = [];
    for (const wait of [999, 1, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]) {
      await vi.advanceTimersByTimeAsync(wait);
      seen.push(attempts);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await outbox.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(attempts).toBe(8);
  });

  it('tries that fail log nothing above debug', async () => {
    const { directory, fix } = blockedDirectory();
    const logger = recordingLogger();
    let attempts = 0;
    const outbox = recovering(directory, {
      logger,
      open: () => {
        attempts++;
        return openedFileOutbox(new FileOutbox({ directory, logger }));
      },
    });
    await until(() => attempts >= 5);
    expect(logger.warnings).toEqual([]);
    fix();
    await outbox.whenRecovered();
    expect(logger.warnings).toEqual(['outbox: the directory can be used again; 0 events moved to disk']);
  });

  it('an open under way at close that succeeds stores what memory held', async () => {
    const directory = tempDir();
    let startOpen: () => void = () => {};
    const asked = new Promise<void>((resolve) => (startOpen = resolve));
    let letOpen: () => void = () => {};
    const allowed = new Promise<void>((resolve) => (letOpen = resolve));
    const outbox = recovering(directory, {
      open: async () => {
        startOpen();
        await allowed;
        return openedFileOutbox(new FileOutbox({ directory }));
      },
    });
    const records = makeRecords(3);
    outbox.append(records);
    await asked;
    const closed = outbox.close();
    letOpen();
    await closed;
    expect(await deliveredAfterRestart(directory)).toEqual(uuids(records));
  });
});

describe('createFileOutbox on a directory that cannot be used at start', () => {
  it('falls back to memory, then the file outbox takes over once the directory can be used', async () => {
    const { directory, fix } = blockedDirectory();
    const logger = recordingLogger();
    const outbox = createFileOutbox({ directory, logger }) as DeferredOutbox;
    cleanups.push(() => outbox.close());
    const before = makeRecords(3);
    outbox.append(before);
    await expect(outbox.persist()).rejects.toMatchObject({ kind: 'io' });
    fix();
    await ((await outbox.whenLoaded()) as RecoveringOutbox).whenRecovered();
    await outbox.persist();
    const after = makeRecords(2);
    outbox.append(after);
    await outbox.close();
    expect(logger.warnings).toEqual([
      expect.stringContaining('kept in memory only'),
      'outbox: the directory can be used again; 3 events moved to disk',
    ]);
    expect(await deliveredAfterRestart(directory)).toEqual(uuids([...before, ...after]));
  });
});

describe('FileOutbox.adoptDeadLetters', () => {
  it('stores dead letters as they are, once: a move tried again adds none twice', async () => {
    const directory = tempDir();
    const [a, b, c] = makeRecords(3);
    const letters = [
      { record: a!, reason: 'HTTP 400', deadLetteredAtMs: 1_000 },
      { record: b!, reason: 'HTTP 400', deadLetteredAtMs: 1_000 },
      { record: c!, reason: 'HTTP 413', deadLetteredAtMs: 2_000 },
    ];
    const outbox = new FileOutbox({ directory });
    await outbox.adoptDeadLetters(letters.slice(0, 2));
    await outbox.adoptDeadLetters(letters);
    expect(await outbox.listDeadLetters()).toEqual(letters);
    expect((await outbox.size()).deadLetters).toBe(3);
    await outbox.close();
  });
});

describe('storesAgain', () => {
  it("resolves once the lazy Node platform's default outbox stores again", async () => {
    const { directory, fix } = blockedDirectory();
    const outbox = createLazyNodePlatform().createDefaultOutbox({ name: 'app', directory });
    cleanups.push(() => outbox.close());
    const records = makeRecords(2);
    outbox.append(records);
    let stored = false;
    void storesAgain(outbox).then(() => (stored = true));
    await expect(outbox.persist()).rejects.toMatchObject({ kind: 'io' });
    expect(stored).toBe(false);
    fix();
    await storesAgain(outbox);
    await outbox.persist();
    await outbox.close();
    expect(await deliveredAfterRestart(directory)).toEqual(uuids(records));
  });
});

describeOutboxContract('RecoveringOutbox, once the file outbox took over', {
  persistent: true,
  modelRuns: 8,
  async create(options) {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-recovered-'));
    const make = async (): Promise<RecoveringOutbox> => {
      const outbox = new RecoveringOutbox({
        memory: memoryStandIn(options.limits, options.now, new Error('unusable at first')),
        open: () =>
          openedFileOutbox(
            new FileOutbox({
              directory,
              maxSegmentBytes: 4096,
              ...options.limits,
              ...(options.now ? { now: options.now } : {}),
            }),
          ),
        logger: recordingLogger(),
        backoff: constantBackoff(0),
      });
      await outbox.whenRecovered();
      return outbox;
    };
    let current = await make();
    return {
      outbox: current,
      async reopen() {
        await current.close();
        current = await make();
        return current;
      },
      async dispose() {
        await current.close();
        await fs.rm(directory, { recursive: true, force: true });
      },
    };
  },
});
