import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  breakerStateKey,
  CONSENT_STATE_KEY,
  createFileOutbox,
  ENDPOINTS_STATE_KEY,
  POISON_SEARCH_STATE_KEY,
  SENDING_STATE_KEY,
  serverWaitStateKey,
} from '@homing/client';
import stringWidth from 'string-width';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../program.js';
import {
  captureIo,
  HOSTILE,
  open,
  RAW_CONTROL,
  seedLongRetentionOutbox,
  seedOutbox,
  snapshotDir,
} from './commands.test-helpers.js';
import { inspectOutbox } from './outboxCommand.js';
import { formatStatus, readStatus, status } from './status.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A saved search for a failing event, halving claims (no suspect yet). */
const HALVING_SEARCH = {
  head: 'h',
  headFailures: 2,
  cap: 25,
  suspect: null,
  suspectFailures: 0,
  acceptedSince: false,
};

describe('homing status', () => {
  it('shows queue size, oldest event age, dead letters and the saved breaker state per endpoint', async () => {
    const seeded = await seedOutbox(5, 2);
    cleanups.push(seeded.cleanup);
    const outbox = open(seeded.dir);
    const openUntil = Date.now() + 120_000;
    await outbox.setState(ENDPOINTS_STATE_KEY, ['homing:http://a', 'posthog:http://b']);
    // The app's breaker period: a saved open period up to it is shown as it is.
    await outbox.setState(SENDING_STATE_KEY, {
      mode: 'failover',
      endpoints: [],
      breaker: { threshold: 5, halfOpenAfterMs: 300_000, initialHalfOpenAfterMs: 300_000 },
    });
    await outbox.setState(breakerStateKey('homing:http://a'), {
      version: 1,
      state: 'open',
      since: Date.now(),
      openUntil,
      openings: 1,
      breaker: {},
    });
    await outbox.close();

    const io = captureIo();
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    const text = io.out();
    expect(text).toMatch(/Queue\s+5 events \(\d/);
    expect(text).toMatch(/Oldest event\s+1m \d+s ago/);
    expect(text).toMatch(/Dead letters\s+2/);
    expect(text).toMatch(/Breaker homing:http:\/\/a\s+open \(next try in (1m 59s|2m 0s|1m 58s)\)/);
    expect(text).toMatch(/Breaker posthog:http:\/\/b\s+closed/);

    const json = captureIo();
    expect(await status({ outbox: seeded.dir, json: true }, json)).toBe(0);
    const report = JSON.parse(json.out()) as Record<string, unknown>;
    expect(report).toMatchObject({
      queue: { events: 5 },
      deadLetters: 2,
      endpoints: [
        { id: 'homing:http://a', state: 'open', openUntilMs: openUntil },
        { id: 'posthog:http://b', state: 'closed', openUntilMs: null },
      ],
    });
    expect(report.oldestEventAgeMs).toBeGreaterThanOrEqual(60_000);
  });

  it('lines its values up after an endpoint named in CJK, with a combining accent or with an emoji', async () => {
    const seeded = await seedOutbox(1);
    cleanups.push(seeded.cleanup);
    const ids = [
      'homing:http://テレメトリ.example',
      'homing:http://cafe\u0301.example',
      'homing:http://📈.example',
    ];
    const outbox = open(seeded.dir);
    await outbox.setState(ENDPOINTS_STATE_KEY, ids);
    await outbox.close();
    const { inspector, directory } = await inspectOutbox(seeded.dir);
    const lines = formatStatus(await readStatus(inspector, directory))
      .trimEnd()
      .split('\n');
    // The column each value starts at on the terminal: the columns its label and the gap take.
    const valueAt = (line: string, value: string): number =>
      stringWidth(line.slice(0, line.lastIndexOf(value)));
    const queue = lines.find((l) => l.startsWith('Queue'))!;
    const expected = valueAt(queue, '1 event');
    for (const id of ids) {
      const line = lines.find((l) => l.startsWith(`Breaker ${id}`));
      expect(line, id).toBeDefined();
      expect(valueAt(line!, 'closed'), id).toBe(expected);
    }
  });

  it('says an event stamped in the future is in the future, not "0s ago"', async () => {
    const seeded = await seedOutbox(2);
    cleanups.push(seeded.cleanup);
    const { inspector, directory } = await inspectOutbox(seeded.dir);
    // The events were stamped a minute ago; read with a clock 10 days behind that.
    const now = Date.now() - 10 * 24 * 60 * 60 * 1000;
    const report = await readStatus(inspector, directory, now);
    expect(report.oldestEventAgeMs).toBeLessThan(-9 * 24 * 60 * 60 * 1000);
    const text = formatStatus(report, now);
    expect(text).toMatch(/Oldest event\s+(9d 23h|10d 0h) in the future \(is a clock wrong\?\)/);
    expect(text).not.toMatch(/Oldest event\s+0s ago/);
  });

  it('shows a saved breaker open far ahead as the client restores it: one period from now at most', async () => {
    const seeded = await seedOutbox(1);
    cleanups.push(seeded.cleanup);
    const now = Date.now();
    const outbox = open(seeded.dir);
    await outbox.setState(ENDPOINTS_STATE_KEY, ['homing:http://a', 'homing:http://b', 'homing:http://c']);
    // Opened 6 times in a row (1 s, doubling, held at 30 s), and c twice (2 s).
    for (const [id, openings] of [
      ['homing:http://a', 6],
      ['homing:http://b', 6],
      ['homing:http://c', 2],
    ] as const) {
      await outbox.setState(breakerStateKey(id), {
        version: 1,
        state: 'open',
        since: now,
        openUntil: now + 10 * 24 * 60 * 60 * 1000,
        openings,
        breaker: {},
      });
    }
    await outbox.close();
    // No periods saved by the app: the default ones, as homing flush uses.
    const { inspector, directory } = await inspectOutbox(seeded.dir);
    const report = await readStatus(inspector, directory, now);
    expect(report.endpoints.map((e) => e.openUntilMs)).toEqual([now + 30_000, now + 30_000, now + 2_000]);
    expect(formatStatus(report, now)).toMatch(/Breaker homing:http:\/\/a\s+open \(next try in 30s\)/);

    // The app's own period, saved with its endpoints.
    const app = open(seeded.dir);
    await app.setState(SENDING_STATE_KEY, {
      mode: 'failover',
      endpoints: [{ name: 'homing:http://a', destination: 'homing', host: 'http://a', key: 'k' }],
      breaker: { threshold: 5, halfOpenAfterMs: 120_000, initialHalfOpenAfterMs: 120_000 },
    });
    await app.close();
    const again = await inspectOutbox(seeded.dir);
    const saved = await readStatus(again.inspector, again.directory, now);
    expect(formatStatus(saved, now)).toMatch(/Breaker homing:http:\/\/b\s+open \(next try in 2m 0s\)/);
  });

  it('shows a wait the endpoint asked for (Retry-After), which the next run of the app honours', async () => {
    const seeded = await seedOutbox(1);
    cleanups.push(seeded.cleanup);
    const now = Date.now();
    const outbox = open(seeded.dir);
    await outbox.setState(ENDPOINTS_STATE_KEY, ['homing:http://a', 'homing:http://b', 'homing:http://c']);
    await outbox.setState(serverWaitStateKey('homing:http://a'), { untilMs: now + 120_000, waitMs: 120_000 });
    // Over: nothing to say.
    await outbox.setState(serverWaitStateKey('homing:http://b'), { untilMs: now - 1_000, waitMs: 120_000 });
    // Saved by a clock far ahead: shown as the client restores it, its own length from now at most.
    await outbox.setState(serverWaitStateKey('homing:http://c'), {
      untilMs: now + 86_400_000,
      waitMs: 60_000,
    });
    await outbox.close();
    const { inspector, directory } = await inspectOutbox(seeded.dir);
    const report = await readStatus(inspector, directory, now);
    expect(report.endpoints.map((e) => e.waitUntilMs)).toEqual([now + 120_000, null, now + 60_000]);
    const text = formatStatus(report, now);
    expect(text).toMatch(
      /Breaker homing:http:\/\/a\s+closed \(the server asked to wait: next try in 2m 0s\)/,
    );
    expect(text).toMatch(/Breaker homing:http:\/\/b\s+closed\n/);
    expect(text).toMatch(
      /Breaker homing:http:\/\/c\s+closed \(the server asked to wait: next try in 1m 0s\)/,
    );
  });

  it("shows the app's delivery narrowing down an event its endpoint keeps failing, and nothing of a damaged save", async () => {
    const seeded = await seedOutbox(1);
    cleanups.push(seeded.cleanup);
    const search = HALVING_SEARCH;
    const cases: Array<[unknown, RegExp | null]> = [
      [search, /Failing event\s+the endpoint keeps failing a batch it is sent: batches of at most 25 events/],
      [
        { ...search, head: null, headFailures: 0, cap: 1, suspect: '0190-bad', suspectFailures: 2 },
        /Failing event\s+0190-bad fails alone \(2 of 3 times, each after another event went through\): dead-lettered at 3/,
      ],
      [{ ...search, cap: null }, null],
      [{ ...search, cap: -4 }, null],
      ['not a search', null],
    ];
    for (const [saved, row] of cases) {
      const outbox = open(seeded.dir);
      await outbox.setState(POISON_SEARCH_STATE_KEY, saved);
      await outbox.close();
      const { inspector, directory } = await inspectOutbox(seeded.dir);
      const report = await readStatus(inspector, directory);
      const text = formatStatus(report);
      if (row === null) {
        expect(report.failingEvent).toBeNull();
        expect(text).not.toMatch(/Failing event/);
      } else {
        expect(text).toMatch(row);
      }
    }
  });

  it('shows no failing event once nothing is queued (a denial cleared the queue; the search ends at the next claim)', async () => {
    const seeded = await seedOutbox(0);
    cleanups.push(seeded.cleanup);
    const outbox = open(seeded.dir);
    await outbox.setState(POISON_SEARCH_STATE_KEY, HALVING_SEARCH);
    await outbox.close();
    const { inspector, directory } = await inspectOutbox(seeded.dir);
    const report = await readStatus(inspector, directory);
    expect(report.queue.events).toBe(0);
    expect(report.failingEvent).toBeNull();
    expect(formatStatus(report)).not.toMatch(/Failing event/);
  });

  it('a flipped byte in a segment: says what is unreadable, counts the rest, and changes nothing', async () => {
    const seeded = await seedOutbox(5);
    cleanups.push(seeded.cleanup);
    const segment = (await readdir(seeded.dir)).find((n) => n.endsWith('.log'));
    const file = join(seeded.dir, segment!);
    const bytes = await readFile(file);
    // The middle of the segment lies inside the third record's JSON: its checksum fails.
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const before = await snapshotDir(seeded.dir);

    const io = captureIo();
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toMatch(/Queue\s+4 events/);
    expect(io.out()).toMatch(
      /Damaged\s+1 unreadable range \(\d+ B\), skipped; cut when the app next delivers/,
    );
    const json = captureIo();
    expect(await status({ outbox: seeded.dir, json: true }, json)).toBe(0);
    expect(JSON.parse(json.out())).toMatchObject({ queue: { events: 4 }, damaged: { ranges: 1 } });
    expect(await snapshotDir(seeded.dir)).toEqual(before);

    const clean = captureIo();
    const fresh = await seedOutbox(2);
    cleanups.push(fresh.cleanup);
    expect(await status({ outbox: fresh.dir }, clean)).toBe(0);
    expect(clean.out()).not.toContain('Damaged');
  });

  it('a segment that cannot be read: the rest is shown, and the file named, not an EISDIR failure', async () => {
    const seeded = await seedOutbox(3);
    cleanups.push(seeded.cleanup);
    // A second, sealed segment with two more events, then replaced by a directory.
    const app = createFileOutbox({ directory: seeded.dir });
    await app.close();
    const segment = (await readdir(seeded.dir)).find((n) => n.endsWith('.log'))!;
    const copy = join(
      seeded.dir,
      segment.replace(/^\d+/, (t) => String(Number(t) + 1).padStart(t.length, '0')),
    );
    await mkdir(copy);
    const io = captureIo();
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toMatch(/Queue\s+3 events/);
    expect(io.out()).toMatch(
      new RegExp(
        `Unreadable\\s+${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.*EISDIR.*\\): its events wait`,
      ),
    );
    const json = captureIo();
    expect(await status({ outbox: seeded.dir, json: true }, json)).toBe(0);
    expect(JSON.parse(json.out()).unreadable).toEqual([
      { file: copy, error: expect.stringContaining('EISDIR') },
    ]);
  });

  it('an empty outbox: no oldest event, no endpoints yet', async () => {
    const seeded = await seedOutbox(0);
    cleanups.push(seeded.cleanup);
    const io = captureIo();
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toMatch(/Queue\s+0 events/);
    expect(io.out()).toMatch(/Oldest event\s+-/);
    expect(io.out()).toMatch(/Endpoints\s+none recorded yet/);
  });

  it('shows a consent that holds events back (pending, denied), and none when granted or never set', async () => {
    const seeded = await seedOutbox(3);
    cleanups.push(seeded.cleanup);
    for (const consent of [undefined, 'granted', 'pending', 'denied'] as const) {
      const outbox = open(seeded.dir);
      await outbox.setState(CONSENT_STATE_KEY, consent);
      await outbox.close();
      const io = captureIo();
      expect(await status({ outbox: seeded.dir }, io)).toBe(0);
      if (consent === 'pending' || consent === 'denied')
        expect(io.out()).toMatch(new RegExp(`Consent\\s+${consent}:`));
      else expect(io.out()).not.toContain('Consent');
      const json = captureIo();
      await status({ outbox: seeded.dir, json: true }, json);
      expect((JSON.parse(json.out()) as { consent: unknown }).consent).toBe(consent ?? null);
    }
  });

  it('shows a remembered consent it cannot read as unreadable, with why', async () => {
    const seeded = await seedOutbox(3);
    cleanups.push(seeded.cleanup);
    await mkdir(join(seeded.dir, 'state'), { recursive: true });
    await writeFile(join(seeded.dir, 'state', 'k-consent.json'), '"denied');
    const io = captureIo();
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    expect(io.out()).toMatch(/Consent\s+unreadable \(it may be a denial\)/);
    expect(io.out()).toMatch(/k-consent\.json cannot be read: the file is not JSON\)/);
    const json = captureIo();
    await status({ outbox: seeded.dir, json: true }, json);
    const report = JSON.parse(json.out()) as { consent: unknown; consentError: unknown };
    expect(report.consent).toBe('unreadable');
    expect(report.consentError).toMatch(/k-consent\.json cannot be read: the file is not JSON/);
  });

  it("prints what the outbox's files hold as text: no escape sequence reaches the terminal, one row each", async () => {
    const seeded = await seedOutbox(1);
    cleanups.push(seeded.cleanup);
    // An endpoint's name (the app's), a breaker state and a consent file's content: what an
    // outbox's files hold is not the CLI's to trust.
    const id = `homing:http://a ${HOSTILE}`;
    const outbox = open(seeded.dir);
    await outbox.setState(ENDPOINTS_STATE_KEY, [id]);
    await outbox.setState(breakerStateKey(id), { version: 1, state: `closed ${HOSTILE}` });
    await outbox.close();
    await writeFile(
      join(seeded.dir, 'state', 'k-consent.json'),
      JSON.stringify({ key: `\u009b2J${HOSTILE}`, value: 'granted' }),
    );

    const io = captureIo(true);
    expect(await status({ outbox: seeded.dir }, io)).toBe(0);
    const rows = io.out().trimEnd().split('\n');
    expect(rows.map((r) => /^[A-Z][a-z]+( [a-z]+)?/.exec(r)?.[0])).toEqual([
      'Outbox',
      'Queue',
      'Oldest event',
      'Dead letters',
      'Delivering',
      'Consent',
      'Breaker homing',
    ]);
    expect(io.out().replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    expect(rows[6]).toContain('Breaker homing:http://a \\x1b]0;pwned\\x07\\x1b[2J');
    expect(rows[6]).toContain('closed \\x1b]0;pwned\\x07');
    expect(rows[5]).toContain('\\u009b2J');

    // JSON: the same values to a parser, and no raw DEL or C1 (JSON.stringify escapes only C0).
    const json = captureIo(true);
    expect(await status({ outbox: seeded.dir, json: true }, json)).toBe(0);
    expect(json.out().replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    const report = JSON.parse(json.out()) as {
      endpoints: Array<{ id: string; state: string }>;
      consentError: string;
    };
    expect(report.endpoints).toEqual([
      { id, state: `closed ${HOSTILE}`, openUntilMs: null, waitUntilMs: null },
    ]);
    expect(report.consentError).toContain('\u009b2J');
  });

  it('a directory that does not exist: exit 1 with a hint, and nothing is created', async () => {
    const io = captureIo();
    const dir = '/tmp/homing-cli-no-such-dir-' + process.pid;
    expect(await status({ outbox: dir }, io)).toBe(1);
    expect(io.err()).toContain('No outbox at');
    expect(io.err()).toContain('hint:');
    expect(existsSync(dir)).toBe(false);
  });

  it('changes nothing in the outbox: an app with a 30-day retention still finds its 10-day-old events', async () => {
    const seeded = await seedLongRetentionOutbox();
    cleanups.push(seeded.cleanup);
    const before = await snapshotDir(seeded.dir);
    for (let run = 0; run < 2; run++) {
      const io = captureIo();
      expect(await status({ outbox: seeded.dir }, io)).toBe(0);
      expect(io.out()).toMatch(/Queue\s+15 events/);
      expect(io.out()).toMatch(/Dead letters\s+1/);
    }
    expect(await snapshotDir(seeded.dir)).toEqual(before);
    const app = createFileOutbox({ directory: seeded.dir, ...seeded.limits });
    expect(await app.size()).toMatchObject({ events: 15, deadLetters: 1 });
    await app.close();
  });

  it('refuses a directory that holds no outbox, saying what it expected, and leaves it alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-cli-not-outbox-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await writeFile(join(dir, 'draft.tmp'), 'mine too');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(join(dir, 'draft.tmp'), twoHoursAgo, twoHoursAgo);
    const before = await snapshotDir(dir);
    const io = captureIo();
    expect(await status({ outbox: dir }, io)).toBe(1);
    expect(io.err()).toContain(`No outbox at ${dir}`);
    expect(io.err()).toContain('outbox.json');
    expect(io.err()).toContain('hint:');
    expect(await snapshotDir(dir)).toEqual(before);
  });

  it('names the process delivering from the outbox', async () => {
    const seeded = await seedOutbox(3);
    cleanups.push(seeded.cleanup);
    const holder = open(seeded.dir);
    expect(await holder.claim(1, Number.MAX_SAFE_INTEGER)).not.toBeNull();
    const io = captureIo();
    expect(await status({ outbox: seeded.dir, json: true }, io)).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ delivery: { pid: process.pid, stale: false } });
    await holder.close();
    const after = captureIo();
    expect(await status({ outbox: seeded.dir }, after)).toBe(0);
    expect(after.out()).toMatch(/Delivering\s+no process/);
  });

  it('is registered as "homing status"', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'status');
    expect(command?.options.map((o) => o.long)).toContain('--outbox');
  });
});
