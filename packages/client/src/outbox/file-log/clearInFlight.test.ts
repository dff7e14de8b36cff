import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../../index.node.js';
import { silentLogger } from '../../logger.js';
import type { Outbox, OutboxDrop } from '../outbox.js';
import { makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import { FileOutbox } from './FileOutbox.js';
import type { FileOutboxOptions } from './options.js';
import { DELIVERY_LOCK_FILE } from './segmentFiles.js';

/**
 * `clear()` (consent withdrawn) while a batch is being sent: the README promises that batch is
 * dropped when released and removed when acked. It used to come back, and be sent, once the
 * outbox closed without settling it (a shutdown cut short) or the process died: the claim was
 * forgotten as if the clear had not been, and the cursor never learned of the clear.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-clear-in-flight-'));
  dirs.push(dir);
  return dir;
}

/**
 * What a SIGKILL at this moment leaves: the directory as it is on disk, in a copy a new outbox
 * opens as the next run would (without the dead process's lock, which a next run takes over).
 */
async function crashCopy(dir: string): Promise<string> {
  const copy = tempDir();
  await fs.cp(dir, copy, {
    recursive: true,
    // Nor the dead-letter store's lock (a purge may be taking it meanwhile; it is stale after a crash).
    filter: (source) =>
      path.basename(source) !== DELIVERY_LOCK_FILE && !path.basename(source).startsWith('dead-letters.lock'),
  });
  return copy;
}

async function uuidsLeft(outbox: Outbox): Promise<string[]> {
  const left: string[] = [];
  for (;;) {
    const batch = await outbox.claim(100, Infinity);
    if (batch === null) return left;
    left.push(...batch.records.map((r) => r.uuid));
    await outbox.ack(batch);
  }
}

function consentDropped(drops: readonly OutboxDrop[]): number {
  return drops.filter((d) => d.reason === 'consent').reduce((sum, d) => sum + d.count, 0);
}

/** Three records on disk, the first claimed, then cleared: answers the outbox and its drops. */
async function clearedWhileClaimed(options: FileOutboxOptions) {
  const outbox = new FileOutbox(options);
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  const records = makeRecords(3);
  outbox.append(records);
  await outbox.persist();
  const inFlight = await outbox.claim(1, Infinity);
  expect(inFlight!.records.map((r) => r.uuid)).toEqual([records[0]!.uuid]);
  expect(await outbox.clear()).toBe(2);
  return { outbox, drops, inFlight: inFlight!, records };
}

describe('FileOutbox: a batch in flight at clear()', () => {
  for (const durability of ['batch', 'fsync', 'memory'] as const) {
    it(`is dropped, counted 'consent', when the outbox closes without settling it (${durability})`, async () => {
      const directory = tempDir();
      const { outbox, drops } = await clearedWhileClaimed({ directory, durability });
      expect(consentDropped(drops)).toBe(2);
      await outbox.close();
      expect(consentDropped(drops)).toBe(3);
      const reopened = new FileOutbox({ directory, durability });
      expect(await uuidsLeft(reopened)).toEqual([]);
      expect((await reopened.size()).events).toBe(0);
      await reopened.close();
    });

    it(`is not handed out again after a crash right after clear() (${durability})`, async () => {
      const directory = tempDir();
      const { outbox } = await clearedWhileClaimed({ directory, durability });
      const crashed = await crashCopy(directory);
      const next = new FileOutbox({ directory: crashed, durability });
      expect(await uuidsLeft(next)).toEqual([]);
      await next.close();
      await outbox.close();
    });
  }

  it('is removed by its ack (not counted as dropped), and stays removed after reopen', async () => {
    const directory = tempDir();
    const { outbox, drops, inFlight } = await clearedWhileClaimed({ directory });
    expect((await outbox.size()).events).toBe(1);
    await outbox.ack(inFlight);
    expect((await outbox.size()).events).toBe(0);
    await outbox.close();
    expect(consentDropped(drops)).toBe(2);
    const reopened = new FileOutbox({ directory });
    expect(await uuidsLeft(reopened)).toEqual([]);
    await reopened.close();
  });

  it('is dropped when released, once, and what is appended after the clear is kept', async () => {
    const directory = tempDir();
    const { outbox, drops, inFlight } = await clearedWhileClaimed({ directory });
    const later = makeRecords(2);
    outbox.append(later);
    await outbox.release(inFlight);
    expect(consentDropped(drops)).toBe(3);
    await outbox.close();
    expect(consentDropped(drops)).toBe(3);
    const reopened = new FileOutbox({ directory });
    expect(await uuidsLeft(reopened)).toEqual(later.map((r) => r.uuid));
    await reopened.close();
  });
});

describe('createTelemetry: consent denied while a batch is being sent', () => {
  it('the events tracked before the denial are not sent by the next run, even after a crash', async () => {
    const directory = tempDir();
    const outbox = createFileOutbox({ directory });
    // The clear the denial starts, observed: the crash is simulated right after it.
    const clear = outbox.clear.bind(outbox);
    let clearDone!: () => void;
    const cleared = new Promise<void>((resolve) => (clearDone = resolve));
    outbox.clear = async () => {
      const count = await clear();
      clearDone();
      return count;
    };
    let sending!: () => void;
    const inSend = new Promise<void>((resolve) => (sending = resolve));
    const first = createTelemetry({
      endpoints: [
        {
          destination: 'custom',
          // A send that does not end until shutdown aborts it.
          send: (_events, { signal }) => {
            sending();
            return new Promise((_resolve, reject) =>
              signal.addEventListener('abort', () => reject(new Error('aborted'))),
            );
          },
        },
      ],
      storage: outbox,
      rememberConsent: false,
      delivery: { intervalMs: 10 },
      logger: silentLogger,
    });
    for (let i = 0; i < 3; i++) first.track('before.denial', { i });
    await inSend;
    first.setConsent('denied');
    await cleared;
    const crashed = await crashCopy(directory);
    await first.shutdown({ timeoutMs: 500 });
    await outbox.close();

    // The next run (the user opted in again later; the app keeps consent itself), on what the
    // crash left, and on what the cut-short shutdown left.
    for (const dir of [crashed, directory]) {
      const sent: string[] = [];
      const next = createTelemetry({
        endpoints: [
          {
            destination: 'custom',
            send: async (events) => {
              sent.push(...events.map((e) => e.event));
            },
          },
        ],
        storage: 'file',
        directory: dir,
        rememberConsent: false,
        consent: 'granted',
        delivery: { intervalMs: 10 },
        logger: silentLogger,
      });
      next.track('after.grant');
      await next.flush({ timeoutMs: 5_000 });
      await next.shutdown({ timeoutMs: 1_000 });
      expect(sent, dir === crashed ? 'after a crash' : 'after shutdown').toEqual(['after.grant']);
    }
  });
});
