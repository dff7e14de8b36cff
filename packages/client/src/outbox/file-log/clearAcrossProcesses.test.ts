import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OutboxDrop } from '../outbox.js';
import { drain, makeRecords } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';
import { SegmentWriter } from './SegmentWriter.js';

/**
 * `clear()` (consent denied) in a process that does not hold the delivery lock, while another
 * process (an app delivering, `homing flush`) holds it. It used to clear nothing on disk and
 * answer 0: the holder went on sending the denied user's queued events. Two outboxes on one
 * directory in one process stand for the two processes (each has its own lock token).
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-clear-across-'));
  dirs.push(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The files under `directory` whose bytes hold `text` (a cleared event's must not be among them). */
async function filesHoldingText(directory: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await fs.readdir(directory, { recursive: true })) {
    const file = path.join(directory, name);
    if ((await fs.stat(file)).isFile() && (await fs.readFile(file, 'latin1')).includes(text))
      found.push(name);
  }
  return found;
}

function consentDropped(drops: readonly OutboxDrop[]): number {
  return drops.filter((d) => d.reason === 'consent').reduce((sum, d) => sum + d.count, 0);
}

describe('FileOutbox: clear() in a process without the delivery lock', () => {
  it('the holder, delivering all along, sends nothing appended before the denial once clear() resolved, and everything appended after', async () => {
    const directory = tempDir();
    const holder = new FileOutbox({ directory });
    const holderDrops: OutboxDrop[] = [];
    holder.onDrop((d) => holderDrops.push(d));
    expect(await holder.claim(10, Infinity)).toBeNull(); // holds the lock, nothing to send yet
    const denier = new FileOutbox({ directory });
    const before = makeRecords(60);
    denier.append(before);
    await denier.persist();
    expect(await denier.claim(10, Infinity)).toBeNull(); // not the holder

    // The holder delivers continuously: small batches, each "sent" for a few ms.
    let denied = false;
    let stop = false;
    const claimedAfterDenial: string[] = [];
    const sent: string[] = [];
    const loop = (async () => {
      while (!stop) {
        const batch = await holder.claim(3, Infinity);
        if (batch === null) {
          await sleep(2);
          continue;
        }
        const uuids = batch.records.map((r) => r.uuid);
        if (denied) claimedAfterDenial.push(...uuids);
        await sleep(3);
        sent.push(...uuids);
        await holder.ack(batch);
      }
    })();
    while (sent.length < 6) await sleep(1);

    const answered = await denier.clear();
    denied = true;
    expect(answered).toBeGreaterThan(0);

    // Consent granted again: what is appended now is kept and sent by the holder.
    const after = makeRecords(20);
    denier.append(after);
    await denier.persist();
    const afterIds = new Set(after.map((r) => r.uuid));
    const deadline = Date.now() + 10_000;
    while (sent.filter((u) => afterIds.has(u)).length < after.length && Date.now() < deadline) await sleep(5);
    stop = true;
    await loop;

    const beforeIds = new Set(before.map((r) => r.uuid));
    expect(claimedAfterDenial.filter((u) => beforeIds.has(u))).toEqual([]);
    expect(sent.filter((u) => afterIds.has(u))).toEqual(after.map((r) => r.uuid));
    // Each record of before was either sent (claimed before the denial) or dropped, once.
    const sentBefore = sent.filter((u) => beforeIds.has(u)).length;
    expect(sentBefore + consentDropped(holderDrops)).toBe(before.length);
    expect((await holder.size()).events).toBe(0);
    await denier.close();
    await holder.close();
    const reopened = new FileOutbox({ directory });
    expect(await drain(reopened)).toEqual([]);
    await reopened.close();
  });

  it('a clear left when its outbox closes is honoured by the next holder, whoever it is', async () => {
    const directory = tempDir();
    const holder = new FileOutbox({ directory });
    expect(await holder.claim(10, Infinity)).toBeNull(); // holds the lock, sends nothing more
    const denier = new FileOutbox({ directory });
    const before = makeRecords(5);
    denier.append(before);
    await denier.persist();
    // Begun, then closed at once: the clear's turn comes after the close.
    const cleared = denier.clear();
    await denier.close();
    expect(await cleared).toBe(5);
    await holder.close(); // lets the lock go without having claimed again

    const next = new FileOutbox({ directory });
    const drops: OutboxDrop[] = [];
    next.onDrop((d) => drops.push(d));
    const after = makeRecords(2);
    next.append(after);
    await next.persist();
    expect(await drain(next)).toEqual(after.map((r) => r.uuid));
    expect(consentDropped(drops)).toBe(5);
    await next.close();
  });

  it('a batch the holder has in flight at the request is dropped when released, removed when acked', async () => {
    const directory = tempDir();
    const holder = new FileOutbox({ directory });
    const drops: OutboxDrop[] = [];
    holder.onDrop((d) => drops.push(d));
    expect(await holder.claim(10, Infinity)).toBeNull();
    const denier = new FileOutbox({ directory });
    const before = makeRecords(6);
    denier.append(before);
    await denier.persist();
    const acked = await holder.claim(2, Infinity);
    const released = await holder.claim(2, Infinity);
    expect([...acked!.records, ...released!.records].map((r) => r.uuid)).toEqual(
      before.slice(0, 4).map((r) => r.uuid),
    );
    expect(await denier.clear()).toBe(6);
    // The next claim honours the request: the two free records are dropped, nothing is handed out.
    expect(await holder.claim(10, Infinity)).toBeNull();
    expect(consentDropped(drops)).toBe(2);
    await holder.ack(acked!);
    await holder.release(released!);
    expect(consentDropped(drops)).toBe(4);
    expect(await holder.claim(10, Infinity)).toBeNull();
    await denier.close();
    await holder.close();
    const reopened = new FileOutbox({ directory });
    expect(await drain(reopened)).toEqual([]);
    expect(await fs.readdir(path.join(directory, 'state')).catch(() => [])).toEqual([]);
    await reopened.close();
  });

  it("the cleared events' bytes leave the disk, in the holder's own open segment too, and later appends are kept", async () => {
    const directory = tempDir();
    const secret = 'XYZZY-private-search';
    const filesHolding = (text: string) => filesHoldingText(directory, text);
    const record = (uuid: string, term: string) => ({
      uuid,
      json: JSON.stringify({ uuid, event: 'search', properties: { term } }),
      timestampMs: Date.now(),
    });
    // The holder writes the secret into its own (open) segment; another process denies.
    const holder = new FileOutbox({ directory });
    expect(await holder.claim(10, Infinity)).toBeNull();
    holder.append([record('00000000-0000-7000-8000-000000000001', secret)]);
    await holder.persist();
    expect(await filesHolding(secret)).toHaveLength(1);
    const denier = new FileOutbox({ directory });
    await denier.clear();
    expect(await holder.claim(10, Infinity)).toBeNull(); // honours the request
    await vi.waitFor(async () => expect(await filesHolding(secret)).toEqual([]));
    // The same process clearing its own.
    holder.append([record('00000000-0000-7000-8000-000000000002', `${secret}-2`)]);
    await holder.persist();
    await holder.clear();
    expect(await filesHolding(`${secret}-2`)).toEqual([]);
    // What comes after the clear is written and delivered as ever.
    holder.append([record('00000000-0000-7000-8000-000000000003', 'after')]);
    await holder.persist();
    expect(await filesHolding('after')).toHaveLength(1);
    expect(await drain(holder)).toEqual(['00000000-0000-7000-8000-000000000003']);
    await denier.close();
    await holder.close();
  });

  it("a clear leaves no cleared bytes behind when its records are in flight, or in the denier's own open segment", async () => {
    const directory = tempDir();
    const filesHolding = (text: string) => filesHoldingText(directory, text);
    const record = (n: number, term: string) => {
      const uuid = `00000000-0000-7000-8000-00000000000${n}`;
      return { uuid, json: JSON.stringify({ uuid, properties: { term } }), timestampMs: Date.now() };
    };
    const holder = new FileOutbox({ directory });
    // In flight: claimed for a send when the denial comes; acked or released after it.
    for (const [n, settle] of [
      [1, 'ack'],
      [2, 'release'],
    ] as const) {
      holder.append([record(n, `in-flight-${n}`)]);
      await holder.persist();
      const batch = await holder.claim(10, Infinity);
      expect(batch?.records).toHaveLength(1);
      await holder.clear();
      await (settle === 'ack' ? holder.ack(batch!) : holder.release(batch!));
      expect([settle, await filesHolding(`in-flight-${n}`)]).toEqual([settle, []]);
    }
    // The denier holds no lock; its own segment holds the denied events.
    const denier = new FileOutbox({ directory });
    denier.append([record(3, 'denier-own')]);
    await denier.persist();
    expect(await denier.claim(10, Infinity)).toBeNull();
    expect(await filesHolding('denier-own')).toHaveLength(1);
    await denier.clear();
    expect(await holder.claim(10, Infinity)).toBeNull(); // honours the request
    await vi.waitFor(async () => expect(await filesHolding('denier-own')).toEqual([]));
    // Both go on writing and delivering.
    denier.append([record(4, 'later')]);
    await denier.persist();
    expect(await drain(holder)).toEqual([record(4, '').uuid]);
    await denier.close();
    await holder.close();
  });

  it('a claim asked right after clear() (not awaited) hands out nothing from before it', async () => {
    const directory = tempDir();
    const outbox = new FileOutbox({ directory });
    outbox.append(makeRecords(50));
    await outbox.persist();
    outbox.append(makeRecords(5)); // a write under way or queued when the denial comes
    const cleared = outbox.clear();
    const claimed = await outbox.claim(10, Infinity);
    expect(claimed).toBeNull();
    expect(await cleared).toBe(55);
    const after = makeRecords(3);
    outbox.append(after);
    expect(await drain(outbox)).toEqual(after.map((r) => r.uuid));
    await outbox.close();
  });

  it('records of a write that fails while clear() waits for it are cleared, not handed out by the next claim', async () => {
    const directory = tempDir();
    const outbox = new FileOutbox({ directory });
    await outbox.persist();
    const failing = vi
      .spyOn(SegmentWriter.prototype, 'write')
      .mockImplementation(
        () =>
          new Promise((_resolve, reject) =>
            setTimeout(() => reject(new Error('EIO: the disk went away')), 50),
          ),
      );
    try {
      outbox.append(makeRecords(5));
      void outbox.persist().catch(() => {});
      await sleep(5); // the write is under way
      const cleared = outbox.clear();
      const claimed = await outbox.claim(10, Infinity);
      expect(claimed).toBeNull();
      expect(await cleared).toBe(5);
    } finally {
      failing.mockRestore();
    }
    const after = makeRecords(2);
    outbox.append(after);
    expect(await drain(outbox)).toEqual(after.map((r) => r.uuid));
    await outbox.close();
  });
});
