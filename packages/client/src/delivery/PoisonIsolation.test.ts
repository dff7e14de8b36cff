import { describe, expect, it } from 'vitest';
import type { OutboxRecord } from '../outbox/outbox.js';
import type { SendOutcome } from './destinations/destination.js';
import {
  countsAgainstBatch,
  POISON_LONE_FAILURES,
  POISON_SEARCH_IDLE,
  PoisonIsolation,
} from './PoisonIsolation.js';

const queue: OutboxRecord[] = Array.from({ length: 200 }, (_, i) => ({
  uuid: `u${String(i).padStart(3, '0')}`,
  json: '{}',
  timestampMs: 0,
}));

/**
 * Runs the search the way the delivery loop does, over `queue` with the events at `poisonAt`
 * failing every batch that holds one: claims in queue order, capped; a claim after a failure goes
 * after a probe (the next event behind it). `failuresInARow` is the most failures the endpoint
 * answered one after another (what a consecutive-failure breaker counts).
 */
function search(
  poisonAt: number | readonly number[],
  batchSize = 100,
): { sizes: number[]; deadLettered: string[]; sent: number; failuresInARow: number } {
  const poisons = new Set((typeof poisonAt === 'number' ? [poisonAt] : poisonAt).map((i) => queue[i]!));
  const isolation = new PoisonIsolation(batchSize);
  let pending = [...queue];
  const sizes: number[] = [];
  const deadLettered: string[] = [];
  let sent = 0;
  let inARow = 0;
  let failuresInARow = 0;
  const send = (records: OutboxRecord[], probe = false): 'accepted' | 'failed' | 'poison' => {
    sizes.push(records.length);
    if (!records.some((r) => poisons.has(r))) {
      inARow = 0;
      if (probe) isolation.probeAccepted();
      else isolation.accepted(records);
      pending = pending.filter((r) => !records.includes(r));
      sent += records.length;
      return 'accepted';
    }
    failuresInARow = Math.max(failuresInARow, ++inARow);
    if (probe) {
      isolation.probeFailed();
      return 'failed';
    }
    if (isolation.failed(records) === 'retry') return 'failed';
    pending = pending.filter((r) => !records.includes(r));
    deadLettered.push(...records.map((r) => r.uuid));
    return 'poison';
  };
  for (let round = 0; round < 400 && pending.length > 0; round++) {
    const batch = pending.slice(0, Math.min(batchSize, isolation.cap()));
    // While halving, a probe only with enough events behind the claim (`BatchSender.needsProbe`).
    const spare = (): boolean =>
      !isolation.halving() || pending.length - batch.length >= POISON_LONE_FAILURES;
    if (isolation.needsProbe(batch) && spare()) {
      const probe = pending.slice(batch.length, batch.length + 1);
      if (probe.length === 0) send(batch);
      else if (send(probe, true) === 'accepted' && !(isolation.needsProbe(batch) && spare())) send(batch);
      continue;
    }
    send(batch);
  }
  return { sizes, deadLettered, sent, failuresInARow };
}

describe('PoisonIsolation', () => {
  for (const at of [0, 1, 37, 99, 100, 137, 193]) {
    it(`finds the event at ${at} of 200 by halving and doubling, and sets it aside`, () => {
      const { sizes, deadLettered, sent, failuresInARow } = search(at);
      expect(deadLettered).toEqual([queue[at]!.uuid]);
      expect(sent).toBe(199);
      // The search is short: about two batches per halving, and the probes.
      expect(sizes.length).toBeLessThan(40);
      // A probe is accepted after every failure but the first two: the default breaker (5 in a
      // row) never opens, and no halving waits for its half-open probe.
      expect(failuresInARow).toBeLessThanOrEqual(2);
    });
  }

  it('finds a failing event that is the probe of a halving (it then goes in the capped batch)', () => {
    // 50 is the probe behind the first capped batch (0-49), 25 behind the next (0-24) in turn.
    for (const at of [50, 25, 75, 150]) {
      const { deadLettered, sent, failuresInARow } = search(at);
      expect(deadLettered).toEqual([queue[at]!.uuid]);
      expect(sent).toBe(199);
      expect(failuresInARow).toBeLessThanOrEqual(3);
    }
  });

  it('near the end of the queue, halves without probes, keeping the events the suspect needs', () => {
    for (const at of [195, 197]) {
      const { deadLettered, sent } = search(at);
      expect(deadLettered).toEqual([queue[at]!.uuid]);
      expect(sent).toBe(199);
    }
  });

  it('finds two failing events in one batch, one after the other', () => {
    const { deadLettered, sent } = search([10, 60]);
    expect(deadLettered).toEqual([queue[10]!.uuid, queue[60]!.uuid]);
    expect(sent).toBe(198);
  });

  it('the last events of the queue, failing, stay queued: too few are left to tell them from an outage', () => {
    // Each failure alone that counts follows an accepted probe of one event: the last two have
    // not enough events behind them (probes while halving leave them). They are retried until
    // more events come.
    for (const at of [198, 199]) {
      const { deadLettered, sent } = search(at);
      expect(deadLettered).toEqual([]);
      expect(sent).toBe(199);
    }
  });

  it('a batch that failed once is sent whole again: one failure proves nothing', () => {
    const isolation = new PoisonIsolation(100);
    const batch = queue.slice(0, 100);
    expect(isolation.failed(batch)).toBe('retry');
    expect(isolation.cap()).toBe(Infinity);
    expect(isolation.searching()).toBe(false);
    isolation.accepted(batch);
    expect(isolation.snapshot()).toBe(POISON_SEARCH_IDLE);
  });

  it('failing batches with different heads do not start a search', () => {
    const isolation = new PoisonIsolation(100);
    for (let i = 0; i < 5; i++) isolation.failed(queue.slice(i, i + 100));
    expect(isolation.searching()).toBe(false);
  });

  it('the suspect counts a failure alone only after another batch was accepted', () => {
    const isolation = new PoisonIsolation(100);
    const suspect = [queue[0]!];
    isolation.failed(suspect);
    isolation.failed(suspect);
    expect(isolation.snapshot()).toMatchObject({ suspect: 'u000', suspectFailures: 1, cap: 1 });
    // Nothing else queued, nothing accepted: however often it fails, it is retried.
    for (let i = 0; i < 10; i++) expect(isolation.failed(suspect)).toBe('retry');
    expect(isolation.needsProbe(suspect)).toBe(true);
    for (let i = 2; i <= POISON_LONE_FAILURES; i++) {
      isolation.accepted(queue.slice(1, 11));
      expect(isolation.needsProbe(suspect)).toBe(false);
      expect(isolation.failed(suspect)).toBe(i === POISON_LONE_FAILURES ? 'poison' : 'retry');
    }
    expect(isolation.snapshot()).toBe(POISON_SEARCH_IDLE);
  });

  it('a probe that fails too is an outage: the search is forgotten', () => {
    const isolation = new PoisonIsolation(100);
    const suspect = [queue[0]!];
    isolation.failed(suspect);
    isolation.failed(suspect);
    expect(isolation.needsProbe(suspect)).toBe(true);
    isolation.failed(queue.slice(1, 101));
    expect(isolation.searching()).toBe(false);
    expect(isolation.snapshot().suspect).toBeNull();
  });

  it('the suspect accepted after all (a server fixed) ends the search', () => {
    const isolation = new PoisonIsolation(100);
    const suspect = [queue[0]!];
    isolation.failed(suspect);
    isolation.failed(suspect);
    isolation.accepted(suspect);
    expect(isolation.snapshot()).toBe(POISON_SEARCH_IDLE);
  });

  it('a capped claim without the suspect at its head (sent by another process, dropped) ends the search', () => {
    const isolation = new PoisonIsolation(100);
    isolation.failed([queue[0]!]);
    isolation.failed([queue[0]!]);
    expect(isolation.needsProbe([queue[5]!])).toBe(false);
    expect(isolation.searching()).toBe(false);
  });

  it('successes while searching double the cap back to whole batches', () => {
    const isolation = new PoisonIsolation(100);
    isolation.failed(queue.slice(0, 100));
    isolation.failed(queue.slice(0, 100));
    isolation.failed(queue.slice(0, 50));
    isolation.failed(queue.slice(0, 25));
    expect(isolation.cap()).toBe(13);
    isolation.accepted(queue.slice(0, 13));
    expect(isolation.cap()).toBe(26);
    isolation.accepted(queue.slice(13, 39));
    expect(isolation.cap()).toBe(52);
    isolation.accepted(queue.slice(39, 91));
    expect(isolation.cap()).toBe(100);
    // Whole again, still searching: a failure there halves at once; one accepted ends the search.
    isolation.accepted(queue.slice(91, 191));
    expect(isolation.searching()).toBe(false);
    expect(isolation.cap()).toBe(Infinity);
  });

  it('after each failure while halving, the next claim follows a probe; a failed probe is not asked again for it', () => {
    const isolation = new PoisonIsolation(100);
    isolation.failed(queue.slice(0, 100));
    expect(isolation.needsProbe(queue.slice(0, 100))).toBe(false);
    isolation.failed(queue.slice(0, 100));
    expect(isolation.cap()).toBe(50);
    expect(isolation.needsProbe(queue.slice(0, 50))).toBe(true);
    isolation.probeAccepted();
    expect(isolation.needsProbe(queue.slice(0, 50))).toBe(false);
    isolation.failed(queue.slice(0, 50));
    expect(isolation.needsProbe(queue.slice(0, 25))).toBe(true);
    // The probe failed too: it may be the failing event itself, so the claim goes without one,
    // and the search goes on.
    isolation.probeFailed();
    expect(isolation.searching()).toBe(true);
    expect(isolation.needsProbe(queue.slice(0, 25))).toBe(false);
    isolation.accepted(queue.slice(0, 25));
    expect(isolation.cap()).toBe(50);
    expect(isolation.needsProbe(queue.slice(25, 75))).toBe(false);
    isolation.failed(queue.slice(25, 75));
    expect(isolation.needsProbe(queue.slice(25, 50))).toBe(true);
  });

  it('batches claimed before the search began, accepted after, do not count as its claims', () => {
    // Other workers' batches, in flight beside the batch that failed, are answered after the
    // search halved: they show the endpoint is up, and neither double the cap nor end the search.
    const isolation = new PoisonIsolation(100);
    isolation.failed(queue.slice(0, 100));
    isolation.failed(queue.slice(0, 100));
    expect(isolation.cap()).toBe(50);
    isolation.accepted(queue.slice(100, 200));
    isolation.accepted(queue.slice(100, 200));
    expect(isolation.searching()).toBe(true);
    expect(isolation.cap()).toBe(50);
    expect(isolation.needsProbe(queue.slice(0, 50))).toBe(false);
  });

  it('a probe before the suspect that fails is an outage: the search is forgotten', () => {
    const isolation = new PoisonIsolation(100);
    isolation.failed([queue[0]!]);
    isolation.failed([queue[0]!]);
    expect(isolation.needsProbe([queue[0]!])).toBe(true);
    isolation.probeFailed();
    expect(isolation.snapshot()).toBe(POISON_SEARCH_IDLE);
  });

  it('restores a saved search, and ignores a damaged or hand-edited one', () => {
    const saved = {
      head: null,
      headFailures: 0,
      cap: 1,
      suspect: 'u007',
      suspectFailures: 2,
      acceptedSince: false,
    };
    const isolation = new PoisonIsolation(100);
    isolation.restore(saved);
    // Saved before probes while halving: no probe failed.
    expect(isolation.snapshot()).toEqual({ ...saved, probeFailed: false });
    expect(isolation.cap()).toBe(1);
    const halving = { ...saved, cap: 25, suspect: null, suspectFailures: 0, probeFailed: true };
    isolation.restore(halving);
    expect(isolation.snapshot()).toEqual(halving);
    expect(isolation.needsProbe(queue.slice(0, 25))).toBe(false);

    const bad: unknown[] = [
      null,
      undefined,
      'cap=1',
      42,
      [],
      {},
      { ...saved, cap: 0 },
      { ...saved, cap: -3 },
      { ...saved, cap: 1.5 },
      { ...saved, cap: '1' },
      { ...saved, cap: 2 }, // a suspect is only ever searched for alone
      { ...saved, suspect: 7 },
      { ...saved, suspect: 'x'.repeat(10_000) },
      { ...saved, suspectFailures: -1 },
      { ...saved, suspectFailures: Number.NaN },
      { ...saved, headFailures: Infinity },
      { ...saved, acceptedSince: 'yes' },
      { ...saved, probeFailed: 'no' },
      { ...saved, probeFailed: null },
      { head: null, cap: null },
    ];
    for (const value of bad) {
      const fresh = new PoisonIsolation(100);
      fresh.restore(value);
      expect(fresh.snapshot()).toBe(POISON_SEARCH_IDLE);
    }
  });

  it('counts the failures a batch can cause, not those of an endpoint that is busy or not there', () => {
    const failed = (extra: Partial<SendOutcome & { kind: 'failed' }>): SendOutcome => ({
      kind: 'failed',
      failure: 'retryable',
      reason: 'x',
      ...extra,
    });
    const code = (c: string) => Object.assign(new Error(c), { code: c });
    // undici's fetch: a TypeError whose cause has the code.
    const viaFetch = (c: string) => new TypeError('fetch failed', { cause: code(c) });
    expect(countsAgainstBatch(failed({ status: 500 }))).toBe(true);
    expect(countsAgainstBatch(failed({ status: 502 }))).toBe(true);
    expect(countsAgainstBatch(failed({ error: code('ECONNRESET') }))).toBe(true);
    expect(countsAgainstBatch(failed({ error: new Error('request timed out after 10000 ms') }))).toBe(true);
    expect(countsAgainstBatch(failed({ error: new TypeError('Failed to fetch') }))).toBe(true);
    expect(countsAgainstBatch(failed({ error: 'a string' }))).toBe(true);
    expect(countsAgainstBatch(failed({ status: 503 }))).toBe(false);
    expect(countsAgainstBatch(failed({ failure: 'rate-limited', status: 429 }))).toBe(false);
    expect(countsAgainstBatch(failed({ failure: 'permanent', status: 400 }))).toBe(false);
    expect(countsAgainstBatch(failed({ failure: 'too-large', status: 413 }))).toBe(false);
    expect(countsAgainstBatch({ kind: 'accepted', rejected: [] })).toBe(false);
    for (const c of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
      expect(countsAgainstBatch(failed({ error: code(c) }))).toBe(false);
      expect(countsAgainstBatch(failed({ error: viaFetch(c) }))).toBe(false);
    }
    // A cause chain that loops ends.
    const looped: { code?: string; cause?: unknown } = {};
    looped.cause = looped;
    expect(countsAgainstBatch(failed({ error: looped }))).toBe(true);
  });
});
