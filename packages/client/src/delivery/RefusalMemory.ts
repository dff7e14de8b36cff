import type { OutboxRecord } from '../outbox/outbox.js';

/** Most records remembered; the oldest are forgotten first (a forgotten refusal is only asked again). */
const MAX_REMEMBERED = 10_000;

/**
 * Which endpoints refused which records for good, while those records wait for another endpoint
 * (failover to one that is down, fanout with one still failing). A batch is dead-lettered once
 * every endpoint refused it, even when the refusals came in different attempts. In memory only:
 * a restarted process asks each endpoint again.
 */
export class RefusalMemory {
  private readonly byUuid = new Map<string, Map<string, string>>();

  /** `endpoint` refused these records for good, for `reason`. */
  note(records: readonly OutboxRecord[], endpoint: string, reason: string): void {
    for (const record of records) {
      let refusals = this.byUuid.get(record.uuid);
      if (refusals === undefined) {
        refusals = new Map();
        this.byUuid.set(record.uuid, refusals);
      }
      refusals.set(endpoint, reason);
    }
    for (const uuid of this.byUuid.keys()) {
      if (this.byUuid.size <= MAX_REMEMBERED) break;
      this.byUuid.delete(uuid);
    }
  }

  /** The endpoints that refused every one of these records, with a reason each. */
  refusedAll(records: readonly OutboxRecord[]): Map<string, string> {
    const first = records[0] === undefined ? undefined : this.byUuid.get(records[0].uuid);
    const out = new Map<string, string>();
    if (first === undefined) return out;
    for (const [endpoint, reason] of first) {
      if (records.every((r) => this.byUuid.get(r.uuid)?.has(endpoint) === true)) out.set(endpoint, reason);
    }
    return out;
  }

  /** An endpoint answered something else than a refusal for these records: its refusal is stale. */
  forgetEndpoint(records: readonly OutboxRecord[], endpoint: string): void {
    if (this.byUuid.size === 0) return;
    for (const record of records) this.byUuid.get(record.uuid)?.delete(endpoint);
  }

  /**
   * The records left the outbox (sent or dead-lettered). Nearly always with nothing remembered:
   * looking each uuid up anyway hashed every string of every batch (2 % of a backlog's drain).
   */
  forget(records: readonly OutboxRecord[]): void {
    if (this.byUuid.size === 0) return;
    for (const record of records) this.byUuid.delete(record.uuid);
  }
}
