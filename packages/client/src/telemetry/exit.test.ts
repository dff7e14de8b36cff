import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/node.js';
import { printed, spawnTelemetryChild } from './__fixtures__/spawnTelemetryChild.js';
import { Sink, sinkEvents } from './telemetry.test-helpers.js';

/**
 * Most beforeExit rounds a run may take. Usually 1 to 3; on a loaded machine the delivery loop's
 * own timer may fire between rounds, which lets the exit flush re-arm again (5 seen). The defects
 * these bounds catch took 150 to 1 200 rounds, or never ended.
 */
const MAX_ROUNDS = 10;

/**
 * A CLI tracks events and ends without flush or shutdown. The client's `beforeExit` hook sends
 * them (sink up), or leaves them in the outbox for the next run (sink down), and never keeps
 * the process alive: it exits by itself, code 0, without being killed.
 */
describe('process exit (child processes)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-exit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "sends a CLI run's last events through beforeExit and exits by itself",
    { timeout: 60_000 },
    async () => {
      const sink = await Sink.start();
      try {
        const child = spawnTelemetryChild(['exit', path.join(dir, 'up'), sink.url, '20']);
        const exit = await child.exited;
        expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
        const tracked = printed(child.lines, 'T');
        expect(tracked).toHaveLength(20);
        expect(new Set(sink.acceptedUuids)).toEqual(new Set(tracked));
        // The delivery lock is let go at exit: `homing status` read one left behind as a crash.
        expect(existsSync(path.join(dir, 'up', 'delivery.lock'))).toBe(false);
      } finally {
        await sink.down();
      }
    },
  );

  it(
    'with the performance feature on (runtime metrics, a timing): sends the summary and exits by itself, beforeExit not re-armed for ever',
    { timeout: 60_000 },
    async () => {
      const sink = await Sink.start();
      try {
        const child = spawnTelemetryChild(['exit', path.join(dir, 'metrics'), sink.url, '5'], {
          HOMING_CHILD_METRICS: '1',
        });
        // Before the fix every beforeExit tracked a runtime snapshot, whose storing is I/O, after
        // which Node emits beforeExit again: the process never ended (killed here by the timeout).
        const exit = await child.exitedWithin(20_000);
        expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
        const beforeExits = Number(printed(child.lines, 'B')[0]);
        expect(beforeExits).toBeGreaterThanOrEqual(1);
        expect(beforeExits).toBeLessThanOrEqual(MAX_ROUNDS);
        const events = sinkEvents(sink);
        expect(events.filter((e) => e.event === 'cli.step')).toHaveLength(5);
        const summaries = events.filter((e) => e.event === '$metric_summary');
        expect(summaries.map((e) => e.properties.metric)).toEqual(['cli.step.ms']);
        expect(events.filter((e) => e.event === '$performance').length).toBeLessThanOrEqual(2);
      } finally {
        await sink.down();
      }
    },
  );

  it(
    "events tracked in the app's own beforeExit and exit listeners: the process ends, and the next run sends them",
    { timeout: 60_000 },
    async () => {
      const sink = await Sink.start();
      try {
        const directory = path.join(dir, 'own-listeners');
        const env = { HOMING_CHILD_TRACK_AT_EXIT: '1' };
        const first = spawnTelemetryChild(['exit', directory, sink.url, '3'], env);
        // Before the fix each event tracked in beforeExit set off another exit flush, whose I/O
        // made Node emit beforeExit again: the process never ended (killed here), and the sink
        // got thousands of cli.before_exit; and cli.exit, tracked after the exit hook, was lost.
        const exit = await first.exitedWithin(20_000);
        expect(exit, first.stderr()).toEqual({ code: 0, signal: null });
        expect(Number(printed(first.lines, 'B')[0])).toBeLessThanOrEqual(MAX_ROUNDS);
        const second = spawnTelemetryChild(['exit', directory, sink.url, '0']);
        expect(await second.exited, second.stderr()).toEqual({ code: 0, signal: null });
        const events = sinkEvents(sink);
        expect(events.filter((e) => e.event === 'cli.step')).toHaveLength(3);
        expect(events.filter((e) => e.event === 'cli.exit').map((e) => e.properties.code)).toEqual([0]);
        const beforeExits = events.filter((e) => e.event === 'cli.before_exit').length;
        expect(beforeExits).toBeGreaterThanOrEqual(1);
        expect(beforeExits).toBeLessThanOrEqual(MAX_ROUNDS);
        expect(new Set(events.map((e) => e.uuid)).size).toBe(events.length);
      } finally {
        await sink.down();
      }
    },
  );

  it(
    'with intervalMs 0, an app tracking in its beforeExit listener still ends after a few rounds',
    { timeout: 60_000 },
    async () => {
      const sink = await Sink.start();
      try {
        const env = { HOMING_CHILD_TRACK_AT_EXIT: '1', HOMING_CHILD_INTERVAL_ZERO: '1' };
        const child = spawnTelemetryChild(['exit', path.join(dir, 'interval-zero'), sink.url, '3'], env);
        const exit = await child.exitedWithin(20_000);
        expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
        // Each event sent at once (intervalMs 0) was I/O after which Node emitted beforeExit
        // again: 150 to 330 rounds before it ended.
        expect(Number(printed(child.lines, 'B')[0])).toBeLessThanOrEqual(MAX_ROUNDS);
      } finally {
        await sink.down();
      }
    },
  );

  it(
    'an event tracked by async work after the first beforeExit is sent in the same run',
    { timeout: 60_000 },
    async () => {
      const sink = await Sink.start();
      try {
        const env = { HOMING_CHILD_ASYNC_EXIT_MS: '200' };
        const child = spawnTelemetryChild(['exit', path.join(dir, 'async-exit'), sink.url, '2'], env);
        expect(await child.exited, child.stderr()).toEqual({ code: 0, signal: null });
        const events = sinkEvents(sink);
        expect(events.filter((e) => e.event === 'cli.step')).toHaveLength(2);
        expect(events.filter((e) => e.event === 'cli.async_exit')).toHaveLength(1);
      } finally {
        await sink.down();
      }
    },
  );

  /**
   * A first run (`mode`) with the sink down: its 20 events are left in the outbox; a second run
   * with the sink up sends them and its own, each once.
   */
  async function leftForTheNextRun(
    mode: string,
    name: string,
    exitCode: number,
    env: Record<string, string> = {},
  ): Promise<void> {
    const sink = await Sink.start();
    await sink.down(); // the port is now closed: connections are refused
    const directory = path.join(dir, name);
    const first = spawnTelemetryChild([mode, directory, sink.url, '20'], env);
    const exit = await first.exited;
    expect(exit, first.stderr()).toEqual({ code: exitCode, signal: null });
    const left = printed(first.lines, 'T');
    expect(left).toHaveLength(20);

    const outbox = createFileOutbox({ directory });
    const size = await outbox.size();
    await outbox.close();
    expect(size.events).toBe(20);

    await sink.up();
    try {
      const second = spawnTelemetryChild(['exit', directory, sink.url, '1'], env);
      expect(await second.exited, second.stderr()).toEqual({ code: 0, signal: null });
      const all = [...left, ...printed(second.lines, 'T')];
      expect([...sink.acceptedUuids].sort()).toEqual([...all].sort());
    } finally {
      await sink.down();
    }
  }

  it('with the sink down, exits by itself and the next run sends what was left', { timeout: 90_000 }, () =>
    leftForTheNextRun('exit', 'down', 0),
  );

  it.each([
    ['exit-now', 0],
    ['throw', 1],
  ])(
    'a CLI that ends in the turn it tracked (%s): its events are stored, and the next run sends them',
    { timeout: 90_000 },
    (mode, code) => leftForTheNextRun(mode, `now-${mode}`, code),
  );

  it.each([
    ['exit-now', 0],
    ['throw', 1],
  ])(
    'the same with a file outbox the app made itself (createFileOutbox as storage): the install id is read at once, so none waits and is lost (%s)',
    { timeout: 90_000 },
    // Before, that outbox kept the id in its state, read asynchronously: the 20 events waited
    // for it in memory and ended with the process, none stored.
    (mode, code) => leftForTheNextRun(mode, `own-${mode}`, code, { HOMING_CHILD_OWN_OUTBOX: '1' }),
  );

  it.each([
    ['exit-now', 0],
    ['throw', 1],
  ])(
    "a run that ends in the turn it recorded a timing and began a conversation (%s): the metric's summary and the conversation's end are stored with its events",
    { timeout: 60_000 },
    async (mode, code) => {
      const sink = await Sink.start();
      await sink.down(); // refused: what the run made stays in its outbox
      const directory = path.join(dir, `summary-${mode}`);
      const child = spawnTelemetryChild([mode, directory, sink.url, '3'], { HOMING_CHILD_METRICS: '1' });
      expect(await child.exited, child.stderr()).toEqual({ code, signal: null });
      const outbox = createFileOutbox({ directory });
      try {
        const batch = await outbox.claim(100, Number.POSITIVE_INFINITY);
        const events = (batch?.records ?? []).map(
          (r) => JSON.parse(r.json) as { event: string; properties: Record<string, unknown> },
        );
        // Flushed at beforeExit only, which these never reach, the summary was lost.
        const summaries = events.filter((e) => e.event === '$metric_summary');
        expect(summaries.map((e) => [e.properties.metric, e.properties.count])).toEqual([['cli.step.ms', 1]]);
        expect(events.filter((e) => e.event === 'cli.step')).toHaveLength(3);
        // Ended as shutdown() ends it: without, a process that just ends never sent its end.
        const ended = events.filter((e) => e.event === '$conversation_ended');
        expect(ended.map((e) => [e.properties.conversation_id, e.properties.outcome])).toEqual([
          ['conversation-1', 'interrupted'],
        ]);
      } finally {
        await outbox.close();
      }
    },
  );

  it(
    'what one run delivered is never sent again by the next (flush, or the exit flush to a slow server)',
    { timeout: 90_000 },
    async () => {
      // A slow answer: the acks land just before the process ends, when the cursor's save
      // timer (unref'd) can no longer fire.
      const sink = await Sink.start(async () => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return { status: 202, body: '{"accepted":1}' };
      });
      try {
        const tracked: string[] = [];
        for (const [run, mode] of ['flush', 'exit', 'flush', 'exit', 'exit-now'].entries()) {
          const child = spawnTelemetryChild([mode, path.join(dir, 'once'), sink.url, '3']);
          expect((await child.exited).code, child.stderr()).toBe(0);
          tracked.push(...printed(child.lines, 'T'));
          if (mode === 'flush') expect(printed(child.lines, 'F'), `run ${run}`).toEqual(['3']);
        }
        expect(sink.acceptedUuids.length).toBeGreaterThanOrEqual(12);
        const once = new Set(sink.acceptedUuids);
        expect(sink.acceptedUuids, 'an event sent twice').toHaveLength(once.size);
        // The last run ended at once: its 3 events wait in the outbox, the rest were all sent.
        expect(once).toEqual(new Set(tracked.slice(0, 12)));
      } finally {
        await sink.down();
      }
    },
  );
});
