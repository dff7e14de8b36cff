import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../program.js';
import { createFileOutbox } from '@homing/client';
import {
  captureIo,
  HOSTILE,
  open,
  RAW_CONTROL,
  seedLongRetentionOutbox,
  seedNamedEvents,
  seedOutbox,
  snapshotDir,
  startSink,
} from './commands.test-helpers.js';
import { deadLetters } from './dead-letters.js';
import { flush } from './flush.js';
import { status } from './status.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('homing dead-letters', () => {
  it('lists dead letters (table and JSON) with uuid, event, time and reason', async () => {
    const seeded = await seedOutbox(2, 3);
    cleanups.push(seeded.cleanup);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toContain('01900000-0000-7000-8000-000000000000');
    expect(io.out()).toContain('bad.event');
    expect(io.out()).toContain('HTTP 400 Bad Request: invalid event');
    expect(io.out()).toContain('3 dead letters');
    const limited = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, limit: '2' }, limited)).toBe(0);
    expect(limited.out()).toContain('Showing the oldest 2 of 3 dead letters.');

    const json = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, json: true, limit: '2' }, json)).toBe(0);
    const rows = JSON.parse(json.out()) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      uuid: '01900000-0000-7000-8000-000000000000',
      event: 'bad.event',
      reason: 'HTTP 400 Bad Request: invalid event',
    });
    expect(Number.isNaN(Date.parse(rows[0]!.deadLetteredAt as string))).toBe(false);
  });

  it("prints an event's name and an endpoint's answer as text: one row each, no escape sequence reaches the terminal", async () => {
    const seeded = await seedNamedEvents([`page_view ${HOSTILE}`]);
    // The endpoint refuses for good, and its answer is kept in the dead letter's reason.
    const sink = await startSink(400, `bad request ${HOSTILE}`);
    cleanups.push(seeded.cleanup, sink.close);
    expect(
      await flush({ outbox: seeded.dir, host: sink.url, key: 'hw_test', timeout: 5_000 }, captureIo()),
    ).toBe(1);

    const io = captureIo(true);
    expect(await deadLetters({ outbox: seeded.dir }, io)).toBe(0);
    const lines = io.out().split('\n');
    expect(lines).toHaveLength(3); // the row, the count, and the end of the last line
    expect(lines.join('')).not.toMatch(RAW_CONTROL);
    expect(lines[0]).toContain(
      '  page_view \\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07',
    );
    expect(lines[0]).toContain('\\u009b31m\\x7f\\nerror: FAKE LINE');
    expect(lines[0]).toContain(': bad request \\x1b]0;pwned\\x07');
    expect(lines[1]).toBe('1 dead letters. Resend with --replay, discard with --purge.');

    // JSON: the same values to a parser, and no raw DEL or C1 (JSON.stringify escapes only C0).
    const json = captureIo(true);
    expect(await deadLetters({ outbox: seeded.dir, json: true }, json)).toBe(0);
    expect(json.out().replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    const rows = JSON.parse(json.out()) as Array<{ event: string; reason: string }>;
    expect(rows[0]!.event).toBe(`page_view ${HOSTILE}`);
    expect(rows[0]!.reason).toContain(`bad request ${HOSTILE}`);
  });

  it('listing changes nothing in the outbox', async () => {
    const seeded = await seedLongRetentionOutbox();
    cleanups.push(seeded.cleanup);
    const before = await snapshotDir(seeded.dir);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toContain('dead-0');
    expect(await snapshotDir(seeded.dir)).toEqual(before);
    const app = createFileOutbox({ directory: seeded.dir, ...seeded.limits });
    expect(await app.size()).toMatchObject({ events: 15, deadLetters: 1 });
    await app.close();
  });

  it('--replay keeps the limits the app chose: its 10-day-old events stay queued', async () => {
    const seeded = await seedLongRetentionOutbox();
    cleanups.push(seeded.cleanup);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, replay: true }, io)).toBe(0);
    const app = createFileOutbox({ directory: seeded.dir, ...seeded.limits });
    expect(await app.size()).toMatchObject({ events: 16, deadLetters: 0 });
    await app.close();
  });

  it('--replay suggests a flush command that quotes an outbox path the shell would split', async () => {
    const seeded = await seedOutbox(2, 3);
    const spaced = join(await mkdtemp(join(tmpdir(), 'homing-cli-')), "my app's outbox");
    await rename(seeded.dir, spaced);
    cleanups.push(() => rm(dirname(spaced), { recursive: true, force: true }));
    const io = captureIo();
    expect(await deadLetters({ outbox: spaced, replay: true }, io)).toBe(0);
    expect(io.out()).toContain(
      `Send them now with: homing flush --outbox '${spaced.replace(/'/g, `'\\''`)}'\n`,
    );
  });

  it('--replay moves them back to the queue', async () => {
    const seeded = await seedOutbox(2, 3);
    cleanups.push(seeded.cleanup);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, replay: true }, io)).toBe(0);
    expect(io.out()).toContain('Moved 3 dead letters back to the queue');
    expect(io.out()).toContain('homing flush --outbox');
    const outbox = open(seeded.dir);
    expect(await outbox.size()).toMatchObject({ events: 5, deadLetters: 0 });
    await outbox.close();
  });

  it('listing, and status, name damaged dead letters the list cannot show (before a replay or purge makes it final)', async () => {
    const seeded = await seedOutbox(2, 5);
    cleanups.push(seeded.cleanup);
    const file = join(seeded.dir, 'dead-letters.log');
    const bytes = Buffer.from(await readFile(file));
    // 30 bytes in the middle overwritten: one record unreadable, the others intact.
    bytes.fill(0x41, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 30);
    await writeFile(file, bytes);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out().match(/^[0-9a-f]{8}-[0-9a-f-]{27} {2}/gm)?.length).toBe(4);
    expect(io.err()).toMatch(
      /^warning: dead-letters\.log has 1 damaged range \(\d+ bytes, torn or corrupt on disk\), not listed/,
    );
    const json = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, json: true }, json)).toBe(0);
    expect(json.err()).toContain('damaged range');
    const shown = captureIo();
    expect(await status({ outbox: seeded.dir }, shown)).toBe(0);
    expect(shown.out()).toMatch(/Damaged dead letters\s+1 unreadable range \(\d+ B\) in dead-letters\.log/);
    const asJson = captureIo();
    await status({ outbox: seeded.dir, json: true }, asJson);
    expect(JSON.parse(asJson.out())).toMatchObject({ damagedDeadLetters: { ranges: 1 } });
    // Only read: the file is as it was.
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });

  it('--replay past a damaged dead letter: replays the rest, names the damage, exit 0', async () => {
    const seeded = await seedOutbox(2, 5);
    cleanups.push(seeded.cleanup);
    const file = join(seeded.dir, 'dead-letters.log');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 37));
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, replay: true }, io)).toBe(0);
    expect(io.out()).toContain('Moved 4 dead letters back to the queue');
    expect(io.out()).toContain('1 damaged record (torn or corrupt on disk) was cut');
    expect(io.out()).not.toContain('another process');
    const outbox = open(seeded.dir);
    expect(await outbox.size()).toMatchObject({ events: 6, deadLetters: 0 });
    await outbox.close();
  });

  it('--limit n with --replay or --purge touches the oldest n only', async () => {
    const seeded = await seedOutbox(2, 5);
    cleanups.push(seeded.cleanup);
    const before = open(seeded.dir);
    const oldest = (await before.listDeadLetters()).map((d) => d.record.uuid);
    await before.close();
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, replay: true, limit: '2' }, io)).toBe(0);
    expect(io.out()).toContain('Moved 2 dead letters back to the queue');
    expect(io.out()).toContain('3 more stay dead letters');
    const purge = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, purge: true, limit: 1, json: true }, purge)).toBe(0);
    expect(JSON.parse(purge.out())).toEqual({ purged: 1 });
    const after = open(seeded.dir);
    expect(await after.size()).toMatchObject({ events: 4, deadLetters: 2 });
    expect((await after.listDeadLetters()).map((d) => d.record.uuid)).toEqual(oldest.slice(3));
    await after.close();
  });

  it('--replay into a full queue moves only what fits, oldest first, and drops nothing queued', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // The app's queue takes 5 events: 3 become dead letters, then 4 wait to be sent.
    const app = createFileOutbox({ directory: dir, maxEvents: 5 });
    const record = (i: number) => {
      const uuid = `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`;
      return {
        uuid,
        json: JSON.stringify({ uuid, event: `e${i}`, distinct_id: 'd' }),
        timestampMs: Date.now(),
      };
    };
    app.append([0, 1, 2].map(record));
    const batch = await app.claim(3, Number.MAX_SAFE_INTEGER);
    await app.deadLetter(batch!.records, 'HTTP 400 Bad Request');
    await app.ack(batch!);
    app.append([3, 4, 5, 6].map(record));
    await app.close();

    const io = captureIo();
    expect(await deadLetters({ outbox: dir, replay: true }, io)).toBe(1);
    expect(io.out()).toContain('Moved 1 dead letter back to the queue');
    // What the queue holds with the replayed one back in it: full, which is why the rest stay.
    expect(io.out()).toContain('2 stay dead letters: the queue holds 5 events');
    expect(io.out()).toContain('of at most 5');
    const json = captureIo();
    expect(await deadLetters({ outbox: dir, replay: true, json: true }, json)).toBe(1);
    expect(JSON.parse(json.out())).toMatchObject({ replayed: 0, kept: 2, dropped: 0 });

    const after = createFileOutbox({ directory: dir, maxEvents: 5 });
    expect(await after.size()).toMatchObject({ events: 5, deadLetters: 2 });
    const queued = await after.claim(10, Number.MAX_SAFE_INTEGER);
    // Every event that was waiting is still there, and the oldest dead letter joined them.
    expect(queued!.records.map((r) => r.uuid.slice(-1)).sort()).toEqual(['0', '3', '4', '5', '6']);
    expect((await after.listDeadLetters()).map((d) => d.record.uuid.slice(-1))).toEqual(['1', '2']);
    await after.release(queued!);
    await after.close();
  });

  it('--purge throws them away; then there are none', async () => {
    const seeded = await seedOutbox(1, 2);
    cleanups.push(seeded.cleanup);
    const io = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, purge: true, json: true }, io)).toBe(0);
    expect(JSON.parse(io.out())).toEqual({ purged: 2 });
    const after = captureIo();
    expect(await deadLetters({ outbox: seeded.dir }, after)).toBe(0);
    expect(after.out()).toBe('No dead letters.\n');
    const outbox = open(seeded.dir);
    expect((await outbox.size()).events).toBe(1);
    await outbox.close();
  });

  it('refuses --replay with --purge, a bad --limit, and a missing directory', async () => {
    const seeded = await seedOutbox(0, 1);
    cleanups.push(seeded.cleanup);
    const a = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, replay: true, purge: true }, a)).toBe(2);
    expect(a.err()).toContain('--replay and --purge');
    for (const limit of ['0', '0x3', '1e1', '', '-1', '2.5']) {
      const b = captureIo();
      expect(await deadLetters({ outbox: seeded.dir, limit }, b), limit).toBe(2);
      expect(b.err()).toContain('--limit must be a whole number');
    }
    const c = captureIo();
    expect(await deadLetters({ outbox: `${seeded.dir}-missing` }, c)).toBe(1);
    expect(c.err()).toContain('hint:');
  });

  it('is registered as "homing dead-letters"', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'dead-letters');
    expect(command?.options.map((o) => o.long)).toContain('--outbox');
  });
});
