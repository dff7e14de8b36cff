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
 * Runs the search the way the delivery loop does, over `queue` with the event at `poisonAt`
 * failing every batch that holds it: claims in queue order, capped; a suspect goes after a probe.
 */
function search(
  poisonAt: number,
  batchSize = 100,
): { sizes: number[]; deadLettered: string[]; sent: number } {
  const isolation = new PoisonIsolation(batchSize);
  let pending = [...queue];
  const sizes: number[] = [];
  const deadLettered: string[] = [];
  let sent = 0;
  const send = (records: OutboxRecord[]): 'accepted' | 'failed' | 'poison' => {
    sizes.push(records.length);
    if (!records.includes(queue[poisonAt]!)) {
      isolation.accepted(records);
      pending = pending.filter((r) => !records.includes(r));
      sent += records.length;
      return 'accepted';
    }
    if (isolation.failed(records) === 'retry') return 'failed';
    pending = pending.filter((r) => !records.includes(r));
    deadLettered.push(...records.map((r) => r.uuid));
    return 'poison';
  };
  for (let round = 0; round < 200 && pending.length > 0; round++) {
    const batch = pending.slice(0, Math.min(batchSize, isolation.cap()));
    if (isolation.needsProbe(batch)) {
      const probe = pending.slice(1, 2);
      if (probe.length === 0) send(batch);
      else if (send(probe) === 'accepted' && !isolation.needsProbe(batch)) send(batch);
      continue;
    }
    send(batch);
  }
  return { sizes, deadLettered, sent };
}

describe('PoisonIsolation', () => {
  for (const at of [0, 1, 37, 99, 100, 137, 197]) {
    it(`finds the event at ${at} of 200 by halving and doubling, and sets it aside`, () => {
      const { sizes, deadLettered, sent } = search(at);
      expect(deadLettered).toEqual([queue[at]!.uuid]);
      expect(sent).toBe(199);
      // The search is short: about two batches per halving, and the probes.
      expect(sizes.length).toBeLessThan(40);
    });
  }

  it('the last events of the queue, failing, stay queued: too few are left to tell them from an outage', () => {
    // Each failure alone that counts follows an accepted probe of one event: the last two have
    // not enough events behind them. They are retried until more events come.
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
    expect(isolation.snapshot()).toEqual(saved);
    expect(isolation.cap()).toBe(1);

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
