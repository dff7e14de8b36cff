import { expect } from 'vitest';
import type { Store } from '../src/store/store.js';
import { bearer, post, v7, type Answer } from './harness.js';

/** `n` events from number `from` on, spread over 7 persons, each ~300 bytes. */
export function diskFullBatch(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    event: 'page viewed',
    distinct_id: `person-${(from + i) % 7}`,
    uuid: v7(from + i),
    properties: { path: `/p/${from + i}`, pad: 'x'.repeat(200) },
  }));
}

/**
 * Sends 100-event batches to `/ingest` and remembers every uuid answered 202: what the store
 * must hold, once, whatever the disk did meanwhile.
 */
export class AcknowledgedSender {
  readonly acknowledged = new Set<string>();
  private readonly auth: Record<string, string>;

  constructor(
    private readonly url: string,
    writeKey: string,
  ) {
    this.auth = bearer(writeKey);
  }

  async send(from: number): Promise<Answer> {
    const events = diskFullBatch(from, 100);
    const answer = await post(`${this.url}/ingest`, events, this.auth);
    if (answer.status === 202) for (const e of events) this.acknowledged.add(e.uuid);
    return answer;
  }

  /** Sends until an answer is not 202 (a store's WAL may take a little more first); answers it. */
  async untilRefused(maxBatches: number): Promise<Answer | undefined> {
    for (let i = 1; i <= maxBatches; i++) {
      const answer = await this.send(i * 100);
      if (answer.status !== 202) return answer;
    }
    return undefined;
  }

  /** Sends `count` batches; answers their statuses. */
  async statuses(count: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push((await this.send(50_000 + i * 100)).status);
    return out;
  }

  /** Every acknowledged event is stored, once, and nothing answered otherwise is. */
  async expectStoredOnce(store: Store, projectId: string): Promise<void> {
    const stored: string[] = [];
    for (let person = 0; person < 7; person++)
      for await (const e of store.personEvents(projectId, `person-${person}`)) stored.push(e.uuid);
    expect(new Set(stored).size).toBe(stored.length);
    expect(new Set(stored)).toEqual(this.acknowledged);
  }
}

/** The answer to a request the full disk refused: 503, Retry-After, and a body that says why. */
export function expectDiskFullAnswer(answer: Answer | undefined): void {
  expect(answer?.status).toBe(503);
  expect(answer?.headers.get('retry-after')).toBe('5');
  expect(answer?.json).toEqual({
    error: 'storage-unavailable',
    message: "the server's disk is full; nothing was stored, retry later",
  });
}

/** However many requests failed, the log says so once, and names no event content. */
export function expectLoggedOnce(logs: string): void {
  const lines = logs.split('\n').filter((l) => l.includes('storage failed; answered 503'));
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'disk-full', level: 50 });
  expect(logs).not.toContain('person-');
}
