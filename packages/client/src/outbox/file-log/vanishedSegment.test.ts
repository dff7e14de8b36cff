import { mkdtempSync, promises as fs, readdirSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OutboxRecord } from '../outbox.js';
import { drain } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';

const dirs: string[] = [];
const open: FileOutbox[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-vanished-'));
  dirs.push(dir);
  return dir;
}

function outbox(directory: string, extra: Partial<ConstructorParameters<typeof FileOutbox>[0]> = {}) {
  const o = new FileOutbox({ directory, heartbeatMs: 100, staleMs: 1000, ...extra });
  open.push(o);
  return o;
}

const record = (uuid: string, pad = 0): OutboxRecord => ({
  uuid,
  json: JSON.stringify({ u: uuid, pad: 'x'.repeat(pad) }),
  timestampMs: Date.now(),
});

/** The lock holder with one event of its own, and another writer with two in its open segment. */
async function holderBesideWriter(dir: string): Promise<{ holder: FileOutbox; other: FileOutbox }> {
  const holder = outbox(dir);
  holder.append([record('h0')]);
  await holder.persist();
  const other = outbox(dir, { saveLimits: false });
  other.append([record('o0'), record('o1')]);
  await other.persist();
  expect((await holder.size()).events).toBe(3);
  return { holder, other };
}

/**
 * Until mocks are restored, listings of `dir` leave out the segment another writer (not
 * `holder`) has open, as a readdir racing its rename to `.log` may.
 */
function listingMisses(dir: string, holder: FileOutbox): void {
  const realReaddir = fs.readdir.bind(fs);
  const otherSegment = readdirSync(dir).find(
    (n) => n.endsWith('.open') && !n.startsWith(holder['writer'].activeBase ?? '-'),
  );
  expect(otherSegment).toBeDefined();
  vi.spyOn(fs, 'readdir').mockImplementation((async (d: string) => {
    const names = (await realReaddir(d)) as string[];
    return d === dir ? names.filter((n) => n !== otherSegment) : names;
  }) as unknown as typeof fs.readdir);
}

describe('a segment taken away from a writer that is still alive', () => {
  it.each(['just before', 'just after'])(
    'a group persisted %s another process seals the writer’s segment (taking it for dead) is delivered',
    async (when) => {
      const dir = tempDir();
      const writer = outbox(dir);
      await writer.opened();
      writer.append([record('r0'), record('r1')]);
      await writer.persist();
      // The writer lets the delivery lock go, then pauses (its heartbeat looks old).
      await writer['serial'](() => writer['holder'].release(false));
      const segment = readdirSync(dir).find((n) => n.endsWith('.open'))!;
      const old = new Date(Date.now() - 5000);
      utimesSync(path.join(dir, segment), old, old);

      const realRename = fs.rename.bind(fs);
      let injected = false;
      vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
        const ours = !injected && String(from).endsWith(segment);
        if (ours && when === 'just before') {
          injected = true;
          writer.append([record('r2')]);
          await writer.persist();
        }
        await realRename(from, to);
        if (ours && when === 'just after') {
          injected = true;
          writer.append([record('r2')]);
          await writer.persist();
        }
      });
      const holder = outbox(dir, { saveLimits: false });
      const delivered = await drain(holder);
      await holder.persist();
      expect(injected).toBe(true);
      vi.restoreAllMocks();
      await holder.close();
      await writer.close();
      const next = outbox(dir);
      delivered.push(...(await drain(next)));
      // Each once at least: a second copy is a duplicate the uuid settles, never a loss.
      expect(new Set(delivered)).toEqual(new Set(['r0', 'r1', 'r2']));
    },
  );

  it('the outbox directory deleted while the app runs: later events are stored in it again, not in a deleted file', async () => {
    const dir = tempDir();
    const app = outbox(dir);
    app.append([record('before')]);
    await app.persist();
    await fs.rm(dir, { recursive: true, force: true });
    app.append([record('after-1')]);
    await app.persist();
    app.append([record('after-2')]);
    await app.persist();
    // Without a clean close (a crash): what persist() said was stored is on disk.
    expect(readdirSync(dir).some((n) => n.endsWith('.open'))).toBe(true);
    const next = outbox(dir);
    expect(await drain(next)).toEqual(['after-1', 'after-2']);
  });

  it('events queued in a segment deleted by something else (rm -rf of the directory) are counted lost, with a warning', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const app = outbox(dir, {
      logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
    });
    const drops: Array<[string, number]> = [];
    app.onDrop((d) => drops.push([d.reason, d.count]));
    app.append([record('before-1'), record('before-2'), record('before-3')]);
    await app.persist();
    // One of them is on its way (claimed): its batch is counted when it settles, not here.
    const inFlight = await app.claim(1, Number.MAX_SAFE_INTEGER);
    expect(inFlight?.records.map((r) => r.uuid)).toEqual(['before-1']);
    await fs.rm(dir, { recursive: true, force: true });
    app.append([record('after-1')]);
    await app.persist();
    // Before, the two waiting events left stats() and the queue without a trace.
    expect((await app.size()).events).toBe(1);
    expect(drops).toEqual([['corrupt', 2]]);
    expect(warnings.join(' ')).toContain('deleted by something other than Homing');
    await app.ack(inFlight!);
    expect(await drain(app)).toEqual(['after-1']);
    expect(drops).toEqual([['corrupt', 2]]);
  });

  it.each(['acked', 'released'])(
    'a batch claimed from a segment deleted by something else, %s: counted once (sent or lost), the queue size right',
    async (outcome) => {
      const dir = tempDir();
      const app = outbox(dir);
      const drops: Array<[string, number]> = [];
      app.onDrop((d) => drops.push([d.reason, d.count]));
      app.append([record('before-1'), record('before-2'), record('before-3')]);
      await app.persist();
      const inFlight = (await app.claim(1, Number.MAX_SAFE_INTEGER))!;
      await fs.rm(dir, { recursive: true, force: true });
      app.append([record('after-1')]);
      await app.persist();
      expect((await app.size()).events).toBe(1);
      if (outcome === 'acked') await app.ack(inFlight);
      else await app.release(inFlight);
      // Before, an ack took the claimed event off the totals a second time (size 0), and a
      // release sent it back into a segment nobody reads any more, counted nowhere.
      expect((await app.size()).events).toBe(1);
      expect(drops).toEqual(
        outcome === 'acked'
          ? [['corrupt', 2]]
          : [
              ['corrupt', 2],
              ['corrupt', 1],
            ],
      );
      expect(await drain(app)).toEqual(['after-1']);
    },
  );

  it('a fully claimed segment a readdir misses is not sent again', async () => {
    const dir = tempDir();
    const { holder, other } = await holderBesideWriter(dir);
    const batch = (await holder.claim(100, Number.MAX_SAFE_INTEGER))!;
    expect(new Set(batch.records.map((r) => r.uuid))).toEqual(new Set(['h0', 'o0', 'o1']));
    listingMisses(dir, holder);
    await holder.size();
    vi.restoreAllMocks();
    await other.close();
    await holder.ack(batch);
    // Before, forgotten and read again from the cursor as loaded: o0 and o1 went out twice.
    expect(await drain(holder)).toEqual([]);
    expect((await holder.size()).events).toBe(0);
  });

  it('a segment another holder sent and deleted (killed before its cursor save) is not counted lost by the holder before it', async () => {
    const dir = tempDir();
    const earlier = outbox(dir);
    earlier.append([record('e1'), record('e2')]);
    await earlier.persist();
    await earlier.close();
    const warnings: string[] = [];
    const a = outbox(dir, { logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} } });
    const drops: string[] = [];
    a.onDrop((d) => drops.push(d.reason));
    expect((await a.size()).events).toBe(2);
    // Idle, the holder lets the lock go and keeps its index (parked).
    await a['serial'](async () => (await a['becomeHolder']()) && a['holder'].release(true));
    const b = outbox(dir, { persistIntervalMs: 60_000 });
    const batch = (await b.claim(100, Number.MAX_SAFE_INTEGER))!;
    expect(batch.records.map((r) => r.uuid)).toEqual(['e1', 'e2']);
    // The ack deletes the emptied segment at once; the cursor save waits, and b is killed first.
    await b.ack(batch);
    await b['serial'](async () => {
      b['holder']['cancelSave']();
      b['holder'].index = null;
      b['holder'].queue = null;
      await b['holder']['o'].lock.release();
    });
    await a.claim(100, Number.MAX_SAFE_INTEGER);
    expect(drops).toEqual([]);
    expect(warnings.filter((w) => w.includes('deleted by something other'))).toEqual([]);
  });

  it('a segment sealed by its writer while the holder looks is not counted lost', async () => {
    const dir = tempDir();
    const { holder, other } = await holderBesideWriter(dir);
    const drops: string[] = [];
    holder.onDrop((d) => drops.push(d.reason));
    listingMisses(dir, holder);
    expect((await holder.size()).events).toBe(3);
    vi.restoreAllMocks();
    await other.close();
    expect(drops).toEqual([]);
    expect(new Set(await drain(holder))).toEqual(new Set(['h0', 'o0', 'o1']));
  });

  it('a cursor.json that cannot be saved (a read-only directory) is warned about once per kind of failure, again after a good save', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const app = outbox(dir, {
      logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
    });
    app.append(['k0', 'k1', 'k2', 'k3'].map((u) => record(u)));
    await app.persist();
    const realRename = fs.rename.bind(fs);
    let refusing = true;
    vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
      if (refusing && String(to).endsWith('cursor.json'))
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      await realRename(from, to);
    });
    const unsaved = (): number => warnings.filter((w) => w.includes('cannot be noted in cursor.json')).length;
    for (const uuid of ['k0', 'k1']) {
      const batch = await app.claim(1, Number.MAX_SAFE_INTEGER);
      expect(batch?.records[0]?.uuid).toBe(uuid);
      await app.ack(batch!);
      await app.persist();
    }
    // Before, every failed save was swallowed: the next run sent it all again, unannounced.
    expect(unsaved()).toBe(1);
    refusing = false;
    await app.ack((await app.claim(1, Number.MAX_SAFE_INTEGER))!);
    await app.persist();
    refusing = true;
    await app.ack((await app.claim(1, Number.MAX_SAFE_INTEGER))!);
    await app.persist();
    expect(unsaved()).toBe(2);
  });

  it.each(['a file', 'a symlink loop'])(
    'the outbox directory replaced by %s: persist() rejects, the events are kept and stored once the directory is back',
    async (what) => {
      const dir = tempDir();
      const drops: string[] = [];
      const app = outbox(dir);
      app.onDrop((d) => drops.push(d.reason));
      app.append([record('before')]);
      await app.persist();
      await fs.rm(dir, { recursive: true, force: true });
      if (what === 'a file') await fs.writeFile(dir, 'junk');
      else await fs.symlink(dir, dir);
      app.append([record('after-1')]);
      // Before, the group went into the deleted segment (still open) and persist() resolved.
      await expect(app.persist()).rejects.toThrow();
      app.append([record('after-2')]);
      await expect(app.persist()).rejects.toThrow();
      // While the disk refuses them, they can still be sent from memory, and go back if not.
      const batch = await app.claim(10, Number.MAX_SAFE_INTEGER);
      expect(batch?.records.map((r) => r.uuid)).toEqual(['after-1', 'after-2']);
      await app.release(batch!);
      await fs.rm(dir, { force: true });
      await app.persist();
      expect(drops).toEqual([]);
      // Without a clean close (a crash): what persist() said was stored is on disk.
      const next = outbox(dir);
      expect(await drain(next)).toEqual(['after-1', 'after-2']);
    },
  );

  it('the outbox directory replaced by a file until close: what could not be stored is counted unsaved', async () => {
    const dir = tempDir();
    const app = outbox(dir);
    const unsaved: number[] = [];
    app.onDrop((d) => {
      if (d.reason === 'unsaved') unsaved.push(d.count);
    });
    app.append([record('before')]);
    await app.persist();
    await fs.rm(dir, { recursive: true, force: true });
    await fs.writeFile(dir, 'junk');
    app.append([record('after-1'), record('after-2')]);
    await expect(app.persist()).rejects.toThrow();
    await app.close();
    expect(unsaved).toEqual([2]);
  });

  it('a segment that cannot be read (a directory in its place) holds up only its own events', async () => {
    const dir = tempDir();
    const app = outbox(dir, { maxSegmentBytes: 1024 });
    for (let i = 0; i < 6; i++) {
      app.append([record(`e${i}`, 600)]);
      await app.persist();
    }
    await app.close();
    const sealed = readdirSync(dir)
      .filter((n) => n.endsWith('.log'))
      .sort();
    expect(sealed.length).toBeGreaterThanOrEqual(3);
    const broken = path.join(dir, sealed[1]!);
    const inside = await fs.readFile(broken);
    await fs.rm(broken);
    await fs.mkdir(broken);
    const warnings: string[] = [];
    const next = outbox(dir, {
      logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
    });
    const delivered = await drain(next);
    // Every event but the broken segment's goes out; before, none did.
    expect(delivered.length).toBeGreaterThanOrEqual(4);
    for (const uuid of delivered) expect(inside.toString('latin1')).not.toContain(`"${uuid}"`);
    expect(warnings.join(' ')).toContain('a segment cannot be read');
    // Put back, it is read at the next look: its events were waiting, not lost.
    await fs.rm(broken, { recursive: true });
    await fs.writeFile(broken, inside);
    await next.close();
    const again = outbox(dir);
    const rest = await drain(again);
    expect(new Set([...delivered, ...rest])).toEqual(new Set(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']));
  });

  it('a directory in place of cursor.json: delivery goes on and acks are stored again', async () => {
    const dir = tempDir();
    const app = outbox(dir);
    app.append(['c0', 'c1', 'c2', 'c3', 'c4'].map((u) => record(u)));
    await app.persist();
    const first = await app.claim(2, Number.MAX_SAFE_INTEGER);
    await app.ack(first!);
    await app.close();
    await fs.rm(path.join(dir, 'cursor.json'), { force: true });
    await fs.mkdir(path.join(dir, 'cursor.json', 'x'), { recursive: true });
    // Before, every claim failed with EISDIR. The acks it held are gone with it: what they
    // covered comes again (the uuid dedups it), nothing is lost.
    const next = outbox(dir);
    const delivered = await drain(next);
    expect(delivered).toEqual(expect.arrayContaining(['c2', 'c3', 'c4']));
    await next.close();
    const after = outbox(dir);
    expect(await drain(after)).toEqual([]);
  });
});
