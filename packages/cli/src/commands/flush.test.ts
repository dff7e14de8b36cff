import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  breakerStateKey,
  CONSENT_HOLD_STATE_KEY,
  CONSENT_STATE_KEY,
  createFileOutbox,
  createTelemetry,
  FileOutbox,
  SENDING_STATE_KEY,
  serverWaitStateKey,
} from '@homing/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../program.js';
import {
  captureIo,
  HOSTILE,
  open,
  RAW_CONTROL,
  seedLongRetentionOutbox,
  seedOutbox,
  startSink,
} from './commands.test-helpers.js';
import { flush } from './flush.js';
import { status } from './status.js';
import { appendFromAnotherProcess, holdLockInAnotherProcess } from './otherProcess.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
// The TTY cases draw a bar, which TERM=dumb (a test run from Emacs' shell) gets as plain lines.
beforeEach(() => {
  vi.stubEnv('TERM', 'xterm-256color');
});
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const c of cleanups.splice(0)) await c();
});

async function setup(n: number, status = 202) {
  const seeded = await seedOutbox(n);
  const sink = await startSink(status);
  cleanups.push(seeded.cleanup, sink.close);
  return { ...seeded, sink };
}

/** The events queued in the outbox at `dir`, read by an outbox opened and closed for it. */
async function queuedIn(dir: string): Promise<number> {
  const outbox = open(dir);
  try {
    return (await outbox.size()).events;
  } finally {
    await outbox.close();
  }
}

/** Saves, as an app run would, the circuit of endpoint `id` open for `openForMs` from now. */
async function saveOpenCircuit(dir: string, id: string, openForMs: number, retryAfterMs?: number) {
  const outbox = open(dir);
  const now = Date.now();
  await outbox.setState(breakerStateKey(id), {
    version: 1,
    state: 'open',
    since: now,
    openUntil: now + openForMs,
    // Opened 6 times in a row: its period is the longest one (30 s by default, doubling from
    // 1 s); a state that opened once is held for 1 s at most.
    openings: 6,
    breaker: { kind: 'consecutive', count: 0 },
  });
  if (retryAfterMs !== undefined)
    await outbox.setState(serverWaitStateKey(id), { untilMs: now + retryAfterMs, waitMs: retryAfterMs });
  await outbox.close();
}

/** Saves, as an app run would, that it sends to two endpoints at `url`: primary, then secondary. */
async function saveTwoEndpoints(outbox: ReturnType<typeof open>, url: string): Promise<void> {
  await outbox.setState(SENDING_STATE_KEY, {
    mode: 'failover',
    endpoints: [
      { destination: 'homing', host: url, key: 'wk', name: 'primary' },
      { destination: 'homing', host: url, key: 'wk', name: 'secondary' },
    ],
  });
}

/**
 * A flush of the 3 events `setup(3)` queued, held back by what the outbox saved (exit 1, no
 * request), then with --force (exit 0, all sent). Answers the held flush's output.
 */
async function heldThenForced(
  dir: string,
  sink: { url: string; requests: number; uuids: string[] },
): Promise<ReturnType<typeof captureIo>> {
  const io = captureIo();
  expect(
    await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 2_000 }, io),
  ).toBe(1);
  expect(sink.requests).toBe(0);
  const forced = captureIo();
  expect(
    await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', force: true }, forced),
  ).toBe(0);
  expect(sink.uuids).toHaveLength(3);
  return io;
}

/**
 * A homing sink on loopback that answers 500 to every batch holding `poison` (to every batch with
 * 'everything'), after `failDelayMs`, and 202 to the others; `accepted` are the uuids of the
 * batches it took, `sizes` every batch's.
 */
async function failingOn(
  poison: string | 'everything',
  failDelayMs = 0,
): Promise<{ host: string; accepted: string[]; sizes: number[] }> {
  const accepted: string[] = [];
  const sizes: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const uuids = (JSON.parse(body.toString('utf8')) as { batch: Array<{ uuid: string }> }).batch.map(
        (e) => e.uuid,
      );
      const bad = poison === 'everything' || uuids.includes(poison);
      sizes.push(uuids.length);
      if (!bad) accepted.push(...uuids);
      setTimeout(
        () => {
          res.writeHead(bad ? 500 : 202, { 'content-type': 'application/json' });
          res.end(bad ? '{"error":"boom"}' : '{}');
        },
        bad ? failDelayMs : 0,
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted, sizes };
}

describe('homing flush', () => {
  it('drains the outbox to the sink, with plain progress lines when stderr is not a TTY', async () => {
    const { dir, uuids, sink } = await setup(1200);
    const io = captureIo(false);
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(0);
    expect(new Set(sink.uuids)).toEqual(new Set(uuids));
    expect(io.out()).toContain('Sent 1200 events');
    // A line per batch delivered (up to 100 events each, the delivery's default), counting up.
    const sent = [...io.err().matchAll(/^flush: (\d+)\/1200 events sent$/gm)].map((m) => Number(m[1]));
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(sent.every((n, i) => i === 0 || n > sent[i - 1]!)).toBe(true);
    expect(sent.at(-1)).toBe(1200);
    expect(await queuedIn(dir)).toBe(0);
  });

  it('sends what the app keeps: its 30-day retention applies, not the default 7 days', async () => {
    const seeded = await seedLongRetentionOutbox();
    const sink = await startSink();
    cleanups.push(seeded.cleanup, sink.close);
    const io = captureIo();
    expect(await flush({ outbox: seeded.dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(0);
    expect(new Set(sink.uuids)).toEqual(new Set(seeded.uuids));
    expect(io.out()).toContain('Sent 15 events');
  });

  it('names the events it dropped past the retention the app saved, sending only the rest (it said "Sent 0 events" and nothing of them)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
    const sink = await startSink();
    cleanups.push(() => rm(dir, { recursive: true, force: true }), sink.close);
    const app = createFileOutbox({ directory: dir, retentionMs: 60_000 });
    const record = (uuid: string, timestampMs: number) => ({
      uuid,
      json: JSON.stringify({
        uuid,
        event: 'e',
        distinct_id: 'd',
        timestamp: new Date(timestampMs).toISOString(),
      }),
      timestampMs,
    });
    const now = Date.now();
    app.append([record('fresh-0', now), record('fresh-1', now)]);
    await app.persist();
    await app.close();
    // The same events, tracked two minutes ago: what an app that could not send left behind.
    const old = createFileOutbox({ directory: dir, retentionMs: 60_000, now: () => now - 120_000 });
    old.append([
      record('old-0', now - 120_000),
      record('old-1', now - 120_000),
      record('old-2', now - 120_000),
    ]);
    await old.persist();
    await old.close();
    const statusIo = captureIo();
    expect(await status({ outbox: dir }, statusIo)).toBe(0);
    expect(statusIo.out()).toMatch(
      /Oldest event +2m 0s ago, past the app's retention \(1m 0s\): such events are dropped unsent/,
    );
    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(0);
    expect(sink.uuids.sort()).toEqual(['fresh-0', 'fresh-1']);
    expect(io.out()).toContain('Sent 2 events');
    expect(io.err()).toContain(
      'warning: 3 events were older than the retention the app saved in the outbox (retentionMs) and dropped, not sent',
    );
  });

  it('draws a progress bar on a TTY', async () => {
    const { dir, sink } = await setup(120);
    const io = captureIo(true);
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(0);
    expect(io.err()).toContain('\r[');
    expect(io.err()).toContain('100% 120/120 events');
  });

  it('an unreachable server: non-zero exit, a next-step hint, and every event still queued', async () => {
    const { dir, sink } = await setup(10);
    await sink.close();
    const io = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 1_500 }, io),
    ).toBe(1);
    expect(io.err()).toMatch(/error: /);
    expect(io.err()).toMatch(/hint: /);
    expect(await queuedIn(dir)).toBe(10);
  });

  it('a failing server shows each failed attempt, so a flush that cannot send does not look hung', async () => {
    const { dir, sink } = await setup(5, 503);
    const io = captureIo(false);
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 1_500 }, io),
    ).toBe(1);
    const lines = io
      .err()
      .split('\n')
      .filter((l) => l.startsWith('flush: attempt to '));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatch(
      new RegExp(`^flush: attempt to homing:${sink.url} failed: .*503.*; next try in \\d+s$`),
    );
    const tty = captureIo(true);
    expect(
      await flush(
        { outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 300, force: true },
        tty,
      ),
    ).toBe(1);
    expect(tty.err()).toMatch(/\r\x1b\[2Kattempt to homing:.* failed: /);
  });

  it('stopped (SIGINT) mid-flush: puts back what was in flight, says what is queued, exits 130', async () => {
    const { dir, sink } = await setup(20, 503);
    const io = captureIo(false);
    const stop = new AbortController();
    const ran = flush(
      { outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 60_000 },
      io,
      stop.signal,
    );
    await vi.waitFor(() => expect(sink.requests).toBeGreaterThan(0), { timeout: 5_000 });
    const at = Date.now();
    stop.abort();
    expect(await ran).toBe(130);
    expect(Date.now() - at).toBeLessThan(5_000);
    expect(io.out()).toContain('Interrupted: sent 0 events; 20 still queued, nothing lost.');
    expect(await queuedIn(dir)).toBe(20);
  });

  // Ctrl-C aborts the request in flight: its failure ("The operation was aborted; next try in
  // 7s") was printed, up to 4 lines of it, though nothing is tried again.
  it('stopped while a request is in flight: no failed attempt or next try is printed for it', async () => {
    const seeded = await seedOutbox(20);
    cleanups.push(seeded.cleanup);
    let requests = 0;
    const hanging = createServer(() => void requests++);
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    cleanups.push(async () => {
      hanging.closeAllConnections();
      await new Promise<void>((r) => hanging.close(() => r()));
    });
    const host = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const io = captureIo(true);
    const stop = new AbortController();
    const ran = flush(
      { outbox: seeded.dir, destination: 'homing', host, key: 'wk', timeout: 60_000 },
      io,
      stop.signal,
    );
    await vi.waitFor(() => expect(requests).toBeGreaterThan(0), { timeout: 5_000 });
    stop.abort();
    expect(await ran).toBe(130);
    expect(io.out()).toContain('Interrupted: sent 0 events; 20 still queued, nothing lost.');
    expect(io.err()).not.toContain('attempt to');
    expect(io.err()).not.toContain('next try');
  });

  it.each(['SIGINT', 'SIGHUP'] as const)(
    'the built homing flush stops on a real %s, delivered twice, with exit code 130 and every event kept',
    async (signal) => {
      const { dir, sink } = await setup(7, 503);
      const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
      const child = spawn(
        process.execPath,
        [bin, 'flush', '--outbox', dir, '--host', sink.url, '--key', 'wk', '--timeout', '60000'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = once(child, 'exit');
      await vi.waitFor(() => expect(err).toContain('flush: attempt to'), { timeout: 10_000 });
      // Twice, milliseconds apart, as npx forwards a Ctrl-C the terminal also sent, or as a closing
      // terminal's shell and kernel both send SIGHUP: the second used to find no handler left
      // (process.once) and kill the flush in its cleanup, its lock left behind.
      child.kill(signal);
      await new Promise((r) => setTimeout(r, 3));
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      expect(code).toBe(130);
      expect(out).toContain('7 still queued, nothing lost');
      expect(existsSync(join(dir, 'delivery.lock'))).toBe(false);
      expect(await queuedIn(dir)).toBe(7);
    },
  );

  it('respects a saved open circuit (no request), and --force tries anyway', async () => {
    const { dir, sink } = await setup(3);
    await saveOpenCircuit(dir, `homing:${sink.url}`, 60_000);
    const held = await heldThenForced(dir, sink);
    expect(held.err()).toContain('circuit');
    expect(held.err()).toContain('--force');
  });

  it('says so when it waits out a saved open circuit within its timeout, then sends', async () => {
    const { dir, sink } = await setup(3);
    await saveOpenCircuit(dir, `homing:${sink.url}`, 1_500);
    const io = captureIo();
    const code = flush(
      { outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 20_000 },
      io,
    );
    // Said while it waits, before anything was sent: the flush no longer looks hung.
    await vi.waitFor(
      () => expect(io.err()).toMatch(/circuit for homing:\S+ is open after earlier failures; waiting \d/),
      {
        timeout: 1_400,
        interval: 20,
      },
    );
    expect(sink.requests).toBe(0);
    expect(io.err()).toContain('add --force to try now');
    expect(await code).toBe(0);
    expect(sink.uuids).toHaveLength(3);
    expect(io.err().match(/is open after earlier failures/g)).toHaveLength(1);
  });

  it('counts a saved Retry-After beside an open circuit: the note and the hint give the later of the two', async () => {
    const { dir, sink } = await setup(3);
    await saveOpenCircuit(dir, `homing:${sink.url}`, 1_000, 60_000);
    const io = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 3_000 }, io),
    ).toBe(1);
    expect(sink.requests).toBe(0);
    // Not "in 1s": the endpoint asked for a minute, and is not tried before.
    expect(io.err()).toMatch(/tried again in (59s|1m 0s|58s)/);
  });

  it('on a terminal, a note ends its line: the bar is drawn below it, never over a wrapped note', async () => {
    const { dir, sink } = await setup(3);
    await saveOpenCircuit(dir, `homing:${sink.url}`, 600);
    const tty = captureIo(true);
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 20_000 }, tty),
    ).toBe(0);
    expect(tty.err()).toMatch(
      /\r\x1b\[2Kthe circuit for homing:\S+ is open after earlier failures; waiting [^\n\r]*\n\r\[#/,
    );
    expect(tty.err().endsWith('3/3 events\n')).toBe(true);
  });

  it("names each endpoint's wait when one's circuit is open and the other asked for time, and offers --force (it said nothing failed)", async () => {
    const { dir, sink } = await setup(3);
    const outbox = open(dir);
    await saveTwoEndpoints(outbox, sink.url);
    await outbox.setState(serverWaitStateKey('secondary'), {
      untilMs: Date.now() + 600_000,
      waitMs: 600_000,
    });
    await outbox.close();
    await saveOpenCircuit(dir, 'primary', 300_000);
    const held = captureIo();
    expect(await flush({ outbox: dir, timeout: 2_000 }, held)).toBe(1);
    expect(sink.requests).toBe(0);
    expect(held.err()).toContain(
      'error: every endpoint waits: primary: circuit open after repeated failures; secondary: asked to be left alone for a while (Retry-After)',
    );
    expect(held.err()).toMatch(
      /hint: primary will be tried again in (29s|30s); run this again then, or add --force to try now/,
    );
    expect(held.err()).not.toContain('nothing failed');
    const forced = captureIo();
    expect(await flush({ outbox: dir, force: true }, forced)).toBe(0);
    expect(sink.uuids).toHaveLength(3);
  });

  it("names each endpoint's wait too when the Retry-After came in this run (one endpoint's circuit open, the other answered 503 with Retry-After)", async () => {
    const { dir, sink } = await setup(3, 503);
    sink.headers = { 'retry-after': '600' };
    const outbox = open(dir);
    await saveTwoEndpoints(outbox, sink.url);
    await outbox.close();
    await saveOpenCircuit(dir, 'primary', 300_000);
    const io = captureIo();
    expect(await flush({ outbox: dir, timeout: 3_000 }, io)).toBe(1);
    expect(sink.requests).toBe(1);
    expect(io.err()).toContain(
      'error: every endpoint waits: primary: circuit open after repeated failures; secondary: asked to be left alone for a while (Retry-After)',
    );
    expect(io.err()).toContain('add --force to try now');
    expect(io.err()).not.toContain('check --host');
  });

  it('respects a wait the endpoint asked an earlier run for (Retry-After): no request, says when; --force tries now', async () => {
    const { dir, sink } = await setup(3);
    const outbox = open(dir);
    const key = serverWaitStateKey(`homing:${sink.url}`);
    await outbox.setState(key, { untilMs: Date.now() + 120_000, waitMs: 120_000 });
    await outbox.close();
    const held = await heldThenForced(dir, sink);
    expect(held.err()).toContain('asked to be left alone');
    expect(held.err()).toMatch(/tried again in (1m 59s|2m 0s|1m 58s); run this again then, or add --force/);
    expect(held.err()).not.toContain('check --host');
    const after = open(dir);
    expect(await after.getState(key)).toBeUndefined();
    await after.close();
  });

  it('a server that answers 429 or 503 with a Retry-After in this run: says it asked for time and when, not to check --host', async () => {
    for (const status of [429, 503]) {
      const { dir, sink } = await setup(3, status);
      sink.headers = { 'retry-after': '120' };
      const io = captureIo();
      expect(
        await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 3_000 }, io),
      ).toBe(1);
      expect(sink.requests).toBe(1);
      expect(io.err()).toMatch(
        new RegExp(
          `error: homing:\\S+ asked to be left alone for a while \\(it answered [^\\n]*${status}[^\\n]*, with a Retry-After\\)`,
        ),
      );
      expect(io.err()).toMatch(
        /hint: it will be tried again in (1m 59s|2m 0s|1m 58s); run this again then, or add --force/,
      );
      expect(io.err()).not.toContain('check --host');
      expect(await queuedIn(dir)).toBe(3);
    }
  });

  it('a server that is down: the open circuit comes with the error that opened it; --force says it failed again', async () => {
    const { dir } = await setup(2);
    const down = 'http://127.0.0.1:9';
    const run = async (force: boolean) => {
      const io = captureIo();
      const code = await flush(
        { outbox: dir, destination: 'homing', host: down, key: 'wk', timeout: 4_000, force },
        io,
      );
      return { code, err: io.err() };
    };
    // Four failures already saved (the threshold is 5): this run's first refused request opens it.
    const outbox = open(dir);
    await outbox.setState(breakerStateKey(`homing:${down}`), {
      version: 1,
      state: 'closed',
      since: Date.now(),
      openUntil: 0,
      openings: 0,
      breaker: { kind: 'consecutive', count: 4 },
    });
    await outbox.close();
    const first = await run(false);
    expect(first.code).toBe(1);
    expect(first.err).toContain('circuit');
    expect(first.err).toMatch(/last error: .*(ECONNREFUSED|refused|network)/i);
    expect(first.err).toContain('add --force');
    // --force clears the saved circuit and tries at once: it fails again, and whether the circuit
    // reopens within the run or not, the answer names the refusal and never suggests --force.
    const forced = await run(true);
    expect(forced.code).toBe(1);
    expect(forced.err).toMatch(/(ECONNREFUSED|refused|network)/i);
    expect(forced.err).not.toContain('add --force');
    if (forced.err.includes('circuit'))
      expect(forced.err).toContain('--force tried it now and it failed again');
  }, 60_000);

  it('a server failing one event every time while it takes others: the hint says an event is being narrowed down, not to check the server', async () => {
    const seeded = await seedOutbox(30);
    cleanups.push(seeded.cleanup);
    // At the head, answered 500 after 600 ms: the search needs at least nine such answers (two
    // whole batches, five halvings, two failures alone), more than the flush's 5 s, so the flush
    // ends with the search on, however short the retries' jittered waits are; the two whole
    // batches fail within 2.2 s however long they are (a wait of at most 1 s before the second),
    // and the first probe is taken by 4.2 s (a wait of at most 2 s before it).
    const poison = seeded.uuids[0]!;
    const { host, accepted, sizes } = await failingOn(poison, 600);
    const io = captureIo();
    expect(
      await flush(
        { outbox: seeded.dir, destination: 'homing', host, key: 'wk', timeout: 5_000, force: true },
        io,
      ),
    ).toBe(1);
    // The failing batch was sent whole twice, then split, each part after a probe of one event.
    expect(sizes.slice(0, 2)).toEqual([30, 30]);
    const parts = sizes.slice(2).filter((n) => n !== 1);
    expect(parts).toEqual([15, 8, 4, 2].slice(0, parts.length));
    expect(io.err()).toContain('the client is narrowing them down');
    expect(io.err()).not.toContain('check --host');
    // Only the probes went through; the rest is still queued.
    expect(accepted.length).toBeLessThan(10);
    expect((await queuedIn(seeded.dir)) + accepted.length).toBe(30);
  }, 40_000);

  it('a server failing every batch: a search for a failing event begins, but the advice is to check the server', async () => {
    // Any batch failing twice starts a search; with nothing taken, the endpoint is down, and
    // "the endpoint takes others" would send the user looking at their events instead.
    const seeded = await seedOutbox(30);
    cleanups.push(seeded.cleanup);
    const { host, accepted, sizes } = await failingOn('everything');
    const io = captureIo();
    expect(
      await flush(
        { outbox: seeded.dir, destination: 'homing', host, key: 'wk', timeout: 6_000, force: true },
        io,
      ),
    ).toBe(1);
    expect(sizes.slice(0, 2)).toEqual([30, 30]);
    expect(accepted).toEqual([]);
    expect(io.err()).not.toContain('narrowing');
    expect(io.err()).toMatch(/HTTP 500/);
    expect(io.err()).toMatch(/check --host|run it again/);
    expect(await queuedIn(seeded.dir)).toBe(30);
  }, 40_000);

  it('a server failing one event every time while it takes others: the flush sets it aside and delivers the rest', async () => {
    // In the middle of the backlog: the other workers' batches, in flight when it first fails,
    // are answered after the search began (they must not end it).
    const seeded = await seedOutbox(600);
    cleanups.push(seeded.cleanup);
    const poison = seeded.uuids[350]!;
    const { host, accepted } = await failingOn(poison);
    const io = captureIo();
    expect(
      await flush({ outbox: seeded.dir, destination: 'homing', host, key: 'wk', timeout: 60_000 }, io),
    ).toBe(1);
    expect(io.err()).toContain('1 event was moved to the dead letters');
    expect(io.err()).not.toContain('circuit');
    const others = seeded.uuids.filter((u) => u !== poison);
    expect(new Set(accepted)).toEqual(new Set(others));
    expect(accepted).toHaveLength(others.length);
    expect(await queuedIn(seeded.dir)).toBe(0);
    const outbox = open(seeded.dir);
    try {
      const dead = await outbox.listDeadLetters();
      expect(dead.map((d) => d.record.uuid)).toEqual([poison]);
      expect(dead[0]!.reason).toMatch(/HTTP 500.*this event alone, 3 times/);
    } finally {
      await outbox.close();
    }
  }, 90_000);

  it('events refused for good are dead-lettered: exit 1 and a hint to inspect them', async () => {
    const { dir, sink } = await setup(4, 400);
    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
    expect(io.err()).toContain('4 events were moved to the dead letters');
    expect(io.err()).toContain(`homing dead-letters --outbox ${dir}`);
  });

  // A path with a space or a quote (a user name, a project folder): the suggested command,
  // pasted, split it into several arguments.
  it('the commands it suggests quote an outbox path the shell would split', async () => {
    const { dir, sink } = await setup(2, 400);
    const spaced = join(await mkdtemp(join(tmpdir(), 'homing-cli-')), "my app's outbox");
    await rename(dir, spaced);
    cleanups.push(() => rm(dirname(spaced), { recursive: true, force: true }));
    const io = captureIo();
    expect(await flush({ outbox: spaced, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
    expect(io.err()).toContain(`homing dead-letters --outbox '${spaced.replace(/'/g, `'\\''`)}'`);
  });

  it.each([401, 403, 404, 405])(
    'a request refused with %i (wrong --key or --host): stops at the first batch, nothing dead-lettered, every event queued',
    async (status) => {
      const { dir, sink } = await setup(1200, status);
      const io = captureIo();
      expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'typo' }, io)).toBe(1);
      expect(sink.requests).toBe(1);
      expect(io.err()).toContain(`refused the request (`);
      expect(io.err()).toContain('nothing was dead-lettered');
      expect(io.err()).toMatch(status < 404 ? /hint: check --key/ : /hint: check --host/);
      const outbox = open(dir);
      expect(await outbox.size()).toMatchObject({ events: 1200, deadLetters: 0 });
      await outbox.close();
    },
  );

  it('says how many dead letters were discarded past the outbox maxDeadLetters, not that all were kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
    const sink = await startSink(400);
    cleanups.push(() => rm(dir, { recursive: true, force: true }), sink.close);
    const app = createFileOutbox({ directory: dir, maxDeadLetters: 3 });
    app.append(
      Array.from({ length: 10 }, (_, i) => {
        const uuid = `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`;
        return {
          uuid,
          json: JSON.stringify({ uuid, event: 'e', distinct_id: 'd' }),
          timestampMs: Date.now(),
        };
      }),
    );
    await app.persist();
    await app.close();
    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
    expect(io.err()).toContain('10 events were moved to the dead letters (refused for good');
    expect(io.err()).toContain('7 of the oldest dead letters were discarded');
    const outbox = open(dir);
    expect((await outbox.size()).deadLetters).toBe(3);
    await outbox.close();
  });

  it('names the damaged records it cut instead of counting them as sent or queued', async () => {
    const { dir, sink } = await setup(100);
    const segment = (await readdir(dir)).find((f) => f.endsWith('.log') && f !== 'dead-letters.log');
    expect(segment).toBeDefined();
    const file = join(dir, segment!);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 40));
    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(0);
    expect(io.err()).toMatch(/warning: [1-9]\d* damaged records \(torn or corrupt on disk\) were cut/);
    expect(io.out()).toContain(`Sent ${sink.uuids.length} events`);
    expect(sink.uuids.length).toBeLessThan(100);
  });

  it.each(['pending', 'denied'])(
    'sends nothing while the app holds its events for consent (%s)',
    async (consent) => {
      const { dir, sink } = await setup(20);
      const outbox = open(dir);
      await outbox.setState(CONSENT_STATE_KEY, consent);
      await outbox.close();
      const io = captureIo();
      expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
      expect(sink.requests).toBe(0);
      expect(io.err()).toContain(`consent is ${consent}`);
      const after = open(dir);
      expect((await after.size()).events).toBe(20);
      await after.close();
    },
  );

  it("sends nothing, and status says so, while an app holds its events under its consent option 'pending' (not remembered); an app granted by its option sends them", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-flush-hold-'));
    const sink = await startSink(202);
    cleanups.push(() => rm(dir, { recursive: true, force: true }), sink.close);
    const appWith = (consent: 'pending' | 'granted') =>
      createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'wk_app', name: 'main' }],
        storage: 'file',
        directory: dir,
        distinctId: 'u',
        respectDoNotTrack: false,
        consent,
        delivery: { intervalMs: 20, flushOnExit: false },
      });
    const held = appWith('pending');
    for (let i = 0; i < 3; i++) held.track('held', { i });
    await held.shutdown({ timeoutMs: 2_000 });
    expect(sink.requests).toBe(0);

    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
    expect(sink.requests).toBe(0);
    expect(io.err()).toContain('consent is pending');
    expect(await queuedIn(dir)).toBe(3);
    const shown = captureIo();
    expect(await status({ outbox: dir }, shown)).toBe(0);
    expect(shown.out()).toMatch(/Consent\s+pending:/);
    const json = captureIo();
    await status({ outbox: dir, json: true }, json);
    expect(JSON.parse(json.out())).toMatchObject({
      consent: 'pending',
      consentHeldSinceMs: expect.any(Number),
    });

    // The user said yes: the next run is granted by its option, and what was held goes out.
    const granted = appWith('granted');
    await granted.flush({ timeoutMs: 5_000 });
    await granted.shutdown({ timeoutMs: 2_000 });
    expect(sink.uuids).toHaveLength(3);
    const after = captureIo();
    await status({ outbox: dir, json: true }, after);
    expect(JSON.parse(after.out())).toMatchObject({ consent: null });
    expect(JSON.parse(after.out())).not.toHaveProperty('consentHeldSinceMs');
  });

  it('sends nothing while the consent the app remembers cannot be read (it may be a denial)', async () => {
    const { dir, sink } = await setup(20);
    // Cut short: the outbox state would take it for none kept, and the option's 'granted'.
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'state', 'k-consent.json'), '{"key":"consent","val');
    const io = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io)).toBe(1);
    expect(sink.requests).toBe(0);
    expect(io.err()).toMatch(
      /remembered consent in .*k-consent\.json cannot be read: the file is not JSON; nothing was sent/,
    );
    const after = open(dir);
    expect((await after.size()).events).toBe(20);
    await after.close();
  });

  it('stops when the consent the app remembers becomes unreadable while it runs', async () => {
    const { dir, sink } = await setup(20, 503);
    const io = captureIo();
    const running = flush(
      { outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 20_000 },
      io,
    );
    await vi.waitFor(() => expect(sink.requests).toBeGreaterThan(0), { timeout: 5_000 });
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'state', 'k-consent.json'), '');
    expect(await running).toBe(1);
    expect(io.err()).toContain(
      'became unreadable while this ran (it may be a denial): stopped after 0 events',
    );
    const after = open(dir);
    expect((await after.size()).events).toBe(20);
    await after.close();
  });

  it.each([
    [
      "the app's user withdraws consent (a remembered denial)",
      (app: ReturnType<typeof open>) => app.setState(CONSENT_STATE_KEY, 'denied'),
      'set consent to denied while this ran: stopped after 0 events',
    ],
    [
      "an app starts holding its events for consent (a consent: 'pending' option)",
      (app: ReturnType<typeof open>) =>
        app.setState(CONSENT_HOLD_STATE_KEY, { state: 'pending', sinceMs: Date.now() }),
      'set consent to pending while this ran: stopped after 0 events',
    ],
  ] as const)('stops when %s while it runs: nothing more is sent, exit 1', async (_, change, said) => {
    const { dir, sink } = await setup(20, 503);
    const io = captureIo();
    const started = Date.now();
    const running = flush(
      { outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 20_000 },
      io,
    );
    await vi.waitFor(() => expect(sink.requests).toBeGreaterThan(0), { timeout: 5_000 });
    // The app, another process on the outbox.
    const app = open(dir);
    await change(app);
    await app.close();
    // Before its 20 s budget: the sink keeps failing, so only the change ends it.
    expect(await running).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(io.err()).toContain(said);
    const after = open(dir);
    expect((await after.size()).events).toBe(20);
    await after.close();
  });

  it('another live process keeps the delivery lock past --timeout: waits for it, then says so and how to go on, exit 1', async () => {
    const { dir, sink } = await setup(5);
    // The delivery lock of a live process (our parent) with a fresh heartbeat.
    const owner = { pid: process.ppid, host: hostname(), token: 'other-process', acquiredAtMs: Date.now() };
    await writeFile(join(dir, 'delivery.lock'), JSON.stringify(owner));
    const io = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 2_000 }, io),
    ).toBe(1);
    expect(sink.requests).toBe(0);
    expect(io.err()).toMatch(
      new RegExp(
        `^flush: the outbox is being delivered by pid ${process.ppid} \\(heartbeat \\d+s ago\\); waiting up to 2s`,
        'm',
      ),
    );
    expect(io.err()).toContain(`error: the outbox is being delivered by pid ${process.ppid}`);
    expect(io.err()).toMatch(/heartbeat \d+s ago\), still after 2s/);
    expect(io.err()).toMatch(/hint: .*--timeout MS, or stop it/);
    expect(io.err()).not.toContain('--host');
    expect(io.out()).toBe('Sent 0 events to homing:' + sink.url + '; 5 still queued.\n');
    expect(await queuedIn(dir)).toBe(5);
  });

  it('another process delivering when it starts: waits for it to let the lock go, then sends what it left, exit 0', async () => {
    const { dir, uuids, sink } = await setup(5);
    // An app delivering: it has claimed the two oldest events and holds the lock.
    const app = await holdLockInAnotherProcess(dir, 2);
    cleanups.push(app.exit);
    const io = captureIo();
    const running = flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io);
    await vi.waitFor(() => expect(io.err()).toContain(`being delivered by pid ${app.pid}`), {
      timeout: 10_000,
    });
    expect(io.err()).toMatch(/waiting up to \d+s for it to finish, then sending what is left/);
    // Its endpoint takes them; it exits (and lets the lock go).
    await app.ack();
    await app.exit();
    expect(await running, io.err()).toBe(0);
    expect(io.err()).not.toContain('error:');
    expect(new Set(sink.uuids)).toEqual(new Set(uuids.slice(2)));
    expect(io.out()).toContain('Sent 3 events');
    expect(io.out()).toContain('0 still queued');
    expect(await queuedIn(dir)).toBe(0);
  });

  it('another process sends the whole queue while the flush waits for it: success, naming who delivered it', async () => {
    const { dir, sink } = await setup(5);
    const app = await holdLockInAnotherProcess(dir, 5);
    cleanups.push(app.exit);
    const io = captureIo();
    const running = flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io);
    await vi.waitFor(() => expect(io.err()).toContain(`being delivered by pid ${app.pid}`), {
      timeout: 10_000,
    });
    // Delivered, and the lock kept (an app that goes on running).
    await app.ack();
    expect(await running, io.err()).toBe(0);
    expect(sink.requests).toBe(0);
    expect(io.out()).toBe(
      `Sent 0 events to homing:${sink.url}; the rest was delivered by pid ${app.pid}; 0 still queued.\n`,
    );
    expect(io.err()).not.toContain('error:');
  });

  it('events other processes append after its last look are not its failure: exit 0, counted as arrived, left queued', async () => {
    const { dir, uuids, sink } = await setup(5);
    const late = ['late-0', 'late-1', 'late-2'];
    // After its last claim found the queue empty (the flush stores what it sent, then measures
    // what is left), an app appends three events from its own process.
    const persist = FileOutbox.prototype.persist;
    let appended = false;
    const spy = vi.spyOn(FileOutbox.prototype, 'persist').mockImplementation(async function (
      this: FileOutbox,
    ) {
      await persist.call(this);
      if (!appended && sink.uuids.length === uuids.length) {
        appended = true;
        await appendFromAnotherProcess(dir, late);
      }
    });
    const io = captureIo();
    try {
      expect(
        await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, io),
        io.err(),
      ).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(appended).toBe(true);
    expect(new Set(sink.uuids)).toEqual(new Set(uuids));
    expect(io.out()).toBe(`Sent 5 events to homing:${sink.url}; 3 arrived while flushing, still queued.\n`);
    expect(io.err()).not.toContain('error:');
    expect(io.err()).not.toContain('hint:');
    // Still there for the next run, which sends them.
    const next = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk' }, next)).toBe(0);
    expect(sink.uuids.slice(5).sort()).toEqual(late);
  });

  it('a live pid whose lock was not refreshed for days (stopped with Ctrl-Z, hung, or a reused pid): watched a few seconds, then taken over and flushed', async () => {
    const { dir, sink } = await setup(5);
    const owner = { pid: process.ppid, host: hostname(), token: 'stopped-process', acquiredAtMs: 1 };
    const lockFile = join(dir, 'delivery.lock');
    await writeFile(lockFile, JSON.stringify(owner));
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(lockFile, twoDaysAgo, twoDaysAgo);
    const io = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 20_000 }, io),
      io.err(),
    ).toBe(0);
    expect(sink.requests).toBeGreaterThan(0);
    expect(await queuedIn(dir)).toBe(0);
  });

  it('the built homing flush, beside a live pid whose lock went unrefreshed, waits out the watch and sends (it ended mid-await, exit 13, silently)', async () => {
    const { dir, sink } = await setup(4);
    const owner = { pid: process.pid, host: hostname(), token: 'stopped-process', acquiredAtMs: 1 };
    const lockFile = join(dir, 'delivery.lock');
    await writeFile(lockFile, JSON.stringify(owner));
    const longAgo = new Date(Date.now() - 120_000);
    await utimes(lockFile, longAgo, longAgo);
    const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'flush', '--outbox', dir, '--host', sink.url, '--key', 'wk', '--timeout', '30000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, err).toBe(0);
    expect(out).toContain('Sent 4 events');
    expect(new Set(sink.uuids).size).toBe(4);
    expect(await queuedIn(dir)).toBe(0);
  }, 40_000);

  it('a holder that stopped refreshing its lock before the timeout ran out is named as stopped, with what to do', async () => {
    const { dir, sink } = await setup(3);
    const owner = { pid: process.ppid, host: hostname(), token: 'frozen-process', acquiredAtMs: 1 };
    const lockFile = join(dir, 'delivery.lock');
    await writeFile(lockFile, JSON.stringify(owner));
    // Refreshed 15 s ago: not yet stale (30 s), and the timeout ends first.
    const fifteenAgo = new Date(Date.now() - 15_000);
    await utimes(lockFile, fifteenAgo, fifteenAgo);
    const io = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 1_000 }, io),
    ).toBe(1);
    expect(io.err()).toMatch(
      new RegExp(`held by pid ${process.ppid}, which has stopped refreshing its lock \\(last 1[56]s ago`),
    );
    expect(io.err()).toMatch(
      /hint: resume or end pid \d+, or run this again with a --timeout longer than 40s/,
    );
    expect(sink.requests).toBe(0);
    expect(await queuedIn(dir)).toBe(3);
    // Found stale during the wait, but only after the time ran out (the watch outlasts it):
    // said so, not a bare "timed out".
    const almostStale = new Date(Date.now() - 29_500);
    await utimes(lockFile, almostStale, almostStale);
    const late = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 2_000 }, late),
    ).toBe(1);
    expect(late.err()).toContain('which has stopped refreshing its lock');
    expect(late.err()).toContain('hint: it was found stopped only as the time ran out; resume or end');
    expect(late.err()).not.toContain('timed out');
    expect(await queuedIn(dir)).toBe(3);
  }, 20_000);

  it('--destination custom or an unknown one exits 2 naming the three it can flush to', async () => {
    const { dir, sink } = await setup(1);
    for (const destination of ['custom', 'amplitude']) {
      const io = captureIo();
      expect(await flush({ outbox: dir, destination, host: sink.url, key: 'wk' }, io)).toBe(2);
      expect(io.err()).toContain('homing, posthog, segment');
      expect(io.err()).not.toContain('custom,');
    }
    expect(sink.requests).toBe(0);
  });

  it('bad usage exits 2 and names the flag', async () => {
    const { dir, sink } = await setup(1);
    const a = captureIo();
    expect(await flush({ outbox: dir, destination: 'homing', host: 'not a url', key: 'wk' }, a)).toBe(2);
    expect(a.err()).toContain('--host');
    const b = captureIo();
    expect(await flush({ outbox: dir, destination: 'kafka', host: sink.url, key: 'wk' }, b)).toBe(2);
    expect(b.err()).toContain('--destination');
    const c = captureIo();
    expect(
      await flush({ outbox: dir, destination: 'homing', host: sink.url, key: 'wk', timeout: 'soon' }, c),
    ).toBe(2);
    expect(c.err()).toContain('--timeout');
    for (const timeout of ['', ' ', '0x10', '1e3', '-1', '2147483648']) {
      const d = captureIo();
      expect(await flush({ outbox: dir, host: sink.url, key: 'wk', timeout }, d), timeout).toBe(2);
      expect(d.err()).toContain('--timeout must be a whole number of ms from 0 to 2147483647');
    }
    expect(sink.requests).toBe(0);
  });

  /** An app on a new outbox directory whose endpoint `main` is a sink answering 503. */
  async function appOnRefusingSink(delivery: Parameters<typeof createTelemetry>[0]['delivery'] = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
    const sink = await startSink(503);
    cleanups.push(() => rm(dir, { recursive: true, force: true }), sink.close);
    const app = createTelemetry({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'wk_app', name: 'main' }],
      storage: 'file',
      directory: dir,
      distinctId: 'u',
      respectDoNotTrack: false,
      delivery: { intervalMs: 20, flushOnExit: false, ...delivery },
    });
    return { dir, sink, app };
  }

  it("prints an endpoint's answers and its saved name as text: no escape sequence reaches the terminal, no line is faked", async () => {
    const { dir, cleanup } = await seedOutbox(2);
    const answering = await startSink(503, `overloaded ${HOSTILE}`);
    cleanups.push(cleanup, answering.close);
    // The name the app gave its endpoint, saved in the outbox with where it sends.
    const name = `main ${HOSTILE}`;
    const outbox = open(dir);
    await outbox.setState(SENDING_STATE_KEY, {
      mode: 'failover',
      endpoints: [{ destination: 'homing', host: answering.url, key: 'wk', name }],
    });
    await outbox.close();
    const escapedName =
      'main \\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07 \\u009b31m\\x7f\\nerror: FAKE LINE';

    const plain = captureIo(false);
    expect(await flush({ outbox: dir, timeout: 1_500 }, plain)).toBe(1);
    expect(plain.err()).toContain(
      `flush: attempt to ${escapedName} failed: HTTP 503 Service Unavailable: overloaded \\x1b]0;pwned`,
    );
    expect(plain.err().replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    // Every line is one of the command's own: the answer's line break started none.
    for (const line of plain.err().trimEnd().split('\n'))
      expect(line).toMatch(/^(flush: attempt to main |error: |hint: )/);
    expect(plain.err()).not.toMatch(/^error: FAKE LINE/m);

    // On a TTY the command's own \r\x1b[2K redraws the line; nothing else reaches the terminal raw.
    const tty = captureIo(true);
    expect(await flush({ outbox: dir, timeout: 1_500, force: true }, tty)).toBe(1);
    expect(tty.err()).toContain(`\r\x1b[2Kattempt to ${escapedName} failed: `);
    expect(tty.err().replaceAll('\r\x1b[2K', '').replace(/\n/g, '')).not.toMatch(RAW_CONTROL);

    // A request refused (401): the answer is in the error's message.
    const refused = captureIo(false);
    answering.status = 401;
    expect(await flush({ outbox: dir, force: true }, refused)).toBe(1);
    expect(refused.err()).toContain('refused the request (HTTP 401 Unauthorized: overloaded \\x1b]0;pwned');
    expect(refused.err().replace(/\n/g, '')).not.toMatch(RAW_CONTROL);

    answering.status = 202;
    const sent = captureIo(false);
    expect(await flush({ outbox: dir, force: true }, sent)).toBe(0);
    expect(sent.out()).toBe(`Sent 2 events to ${escapedName}; 0 still queued.\n`);
  });

  it('without --host, sends where the app sends: the endpoints its delivery saved in the outbox', async () => {
    const { dir, sink, app } = await appOnRefusingSink();
    for (let i = 0; i < 30; i++) app.track('left.behind', { i });
    await app.persist();
    // The server refuses while the app runs: everything stays queued.
    await app.flush({ timeoutMs: 300 });
    await app.shutdown({ timeoutMs: 0 });
    // A one-off flush elsewhere (here a server that fails) leaves where the app sends alone.
    const other = await startSink(503);
    cleanups.push(other.close);
    const elsewhere = captureIo();
    expect(await flush({ outbox: dir, host: other.url, key: 'wk_other', timeout: 300 }, elsewhere)).toBe(1);
    expect(other.requests).toBeGreaterThan(0);
    sink.status = 202;
    const io = captureIo();
    expect(await flush({ outbox: dir, force: true }, io)).toBe(0);
    expect(io.out()).toContain('Sent 30 events to main');
    expect(new Set(sink.uuids).size).toBe(30);
  });

  it("without --host, keeps the app's breaker period: its open circuit is not tried sooner, and the hint says when", async () => {
    const { dir, sink, app } = await appOnRefusingSink({
      retry: { initialMs: 1, maxMs: 2 },
      breaker: { threshold: 1, halfOpenAfterMs: 600_000, initialHalfOpenAfterMs: 600_000 },
    });
    app.track('left.behind');
    await app.persist();
    await vi.waitFor(async () => expect((await app.stats()).breakers['main']?.state).toBe('open'), {
      timeout: 10_000,
    });
    await app.shutdown({ timeoutMs: 0 });
    const requests = sink.requests;
    for (let run = 0; run < 2; run++) {
      const io = captureIo();
      expect(await flush({ outbox: dir, timeout: 500 }, io)).toBe(1);
      // Ten minutes, not the default 30 s, and the same window run after run.
      expect(io.err()).toMatch(/tried again in (9m|10m)/);
    }
    expect(sink.requests).toBe(requests);
  });

  it('without --host and nothing saved (or something unusable): exit 2 and a hint to name the endpoint', async () => {
    const { dir, sink } = await setup(3);
    const a = captureIo();
    expect(await flush({ outbox: dir }, a)).toBe(2);
    expect(a.err()).toContain('no endpoint saved');
    expect(a.err()).toContain('--host');
    const outbox = open(dir);
    await outbox.setState(SENDING_STATE_KEY, {
      mode: 'failover',
      endpoints: [{ destination: 'homing', host: 'ftp://x', key: 'k', name: 'n' }],
    });
    await outbox.close();
    const b = captureIo();
    expect(await flush({ outbox: dir }, b)).toBe(2);
    expect(b.err()).toContain('cannot be used');
    const c = captureIo();
    expect(await flush({ outbox: dir, key: 'wk' }, c)).toBe(2);
    expect(c.err()).toContain('go with --host');
    const d = captureIo();
    expect(await flush({ outbox: dir, host: sink.url }, d)).toBe(2);
    expect(d.err()).toContain('--key');
    expect(sink.requests).toBe(0);
    const left = open(dir);
    expect((await left.size()).events).toBe(3);
    await left.close();
  });

  it('is registered as "homing flush"', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'flush');
    expect(command?.options.map((o) => o.long)).toContain('--outbox');
  });
});
