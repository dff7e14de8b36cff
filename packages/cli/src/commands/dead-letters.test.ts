import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../program.js';
import { createFileOutbox } from '@homing/client';
import {
  captureIo,
  open,
  seedLongRetentionOutbox,
  seedOutbox,
  snapshotDir,
} from './commands.test-helpers.js';
import { deadLetters } from './dead-letters.js';

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
    const b = captureIo();
    expect(await deadLetters({ outbox: seeded.dir, limit: '0' }, b)).toBe(2);
    const c = captureIo();
    expect(await deadLetters({ outbox: `${seeded.dir}-missing` }, c)).toBe(1);
    expect(c.err()).toContain('hint:');
  });

  it('is registered as "homing dead-letters"', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'dead-letters');
    expect(command?.options.map((o) => o.long)).toContain('--outbox');
  });
});
