import { createHash } from 'node:crypto';
import type { PreparedBatch, PreparedEvent } from './prepare-events.js';

/**
 * What makes an erasure stick: clients keep events in durable outboxes through outages, so events
 * a person generated before their erasure can arrive after it. Each erasure leaves a suppression
 * entry, (project, SHA-256 of project id and distinct id, erasure time), and an event whose
 * (project, person) has one and whose stored (skew-corrected) timestamp is at or before that time
 * is not stored: it is counted as `erased`. Later events are stored (the person came back). An
 * event stamped with its receive time for being dated before the retention period is judged by
 * its own date (`eventMs`): a late event from a clock reset to 1970 happened before the erasure.
 *
 * The timestamp alone misses a deleted event sent again whose timestamp the server supplied (none
 * sent, or a clock too far ahead, clamped to the receive time) or that was deleted because it was
 * received before the erasure: its resend gets a later timestamp. So each erasure also keeps the
 * 16-byte keys of the events it deletes (`erased_keys`: a hash or the client's uuid, no content),
 * and ingest for a project with entries counts a batch's keys found there as `erased` too.
 *
 * The entry keeps a hash, not the distinct id: the least that lets the server recognise the
 * person again. Both stores keep every entry in memory here (loaded at start, noted on each
 * erasure, refreshed from the table for other processes' erasures), so an ingest batch of a
 * project without entries costs one size check.
 */

/** How often, at most, a store reads other processes' new suppression entries, ms. */
export const SUPPRESSION_REFRESH_MS = 1000;

/** One row of the `suppressions` table, as both stores read it. */
export interface SuppressionRow {
  id: number;
  projectId: string;
  hash: Buffer;
  erasedAtMs: number;
}

/** SHA-256 of the project id, a NUL (neither id may hold one) and the distinct id. */
export function suppressionHash(projectId: string, distinctId: string): Buffer {
  return createHash('sha256').update(projectId).update('\0').update(distinctId).digest();
}

export class Suppressions {
  /** Project id → (hash as a latin1 string → latest erasure time, ms). */
  private readonly byProject = new Map<string, Map<string, number>>();
  /** Rows with an id up to this one are loaded. */
  private loadedThrough = 0;
  private checkedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly refreshMs: number = SUPPRESSION_REFRESH_MS) {}

  /** Projects with any entry; 0 in the common case, where ingest looks no further. */
  get size(): number {
    return this.byProject.size;
  }

  /**
   * Whether the project has any entry: only then can a batch hold an erased event, by its person
   * or by its key (see the stores' `erased_keys`), so only then is the key table asked.
   */
  has(projectId: string): boolean {
    return this.byProject.has(projectId);
  }

  /** The id after which `load` expects rows. */
  get lastId(): number {
    return this.loadedThrough;
  }

  /** Whether the table should be read again for other processes' erasures. */
  due(nowMs: number): boolean {
    return nowMs - this.checkedAtMs >= this.refreshMs;
  }

  /** Takes rows with ids above `lastId` (in any order), read from the table at `checkedAtMs`. */
  load(rows: readonly SuppressionRow[], checkedAtMs: number): void {
    for (const r of rows) {
      this.note(r.projectId, r.hash, r.erasedAtMs);
      if (r.id > this.loadedThrough) this.loadedThrough = r.id;
    }
    if (checkedAtMs > this.checkedAtMs) this.checkedAtMs = checkedAtMs;
  }

  /**
   * An erasure this store committed. `lastId` is left alone: another process's rows with smaller
   * ids may not be loaded yet; the next refresh reads this row again, which changes nothing.
   */
  note(projectId: string, hash: Buffer, erasedAtMs: number): void {
    let project = this.byProject.get(projectId);
    if (project === undefined) {
      project = new Map();
      this.byProject.set(projectId, project);
    }
    const key = hash.toString('latin1');
    const before = project.get(key);
    if (before === undefined || erasedAtMs > before) project.set(key, erasedAtMs);
  }

  /**
   * Drops a removed project's entries: its rows are deleted with it and nothing more of it is
   * stored, so they would only hold memory until the store closes (about 100 bytes an erasure).
   */
  forget(projectId: string): void {
    this.byProject.delete(projectId);
  }

  /**
   * Removes the batch's events whose person was erased at or after their time (`eventMs`; in place:
   * `events` and `keys` are replaced); answers how many. The hash is taken once per distinct id
   * of the batch, and only for projects with entries.
   */
  dropSuppressed(projectId: string, batch: PreparedBatch): number {
    const project = this.byProject.get(projectId);
    if (project === undefined) return 0;
    const erasedAt = new Map<string, number | undefined>();
    const kept: number[] = [];
    for (let i = 0; i < batch.events.length; i++) {
      const e = batch.events[i]!;
      let at = erasedAt.get(e.distinctId);
      if (at === undefined && !erasedAt.has(e.distinctId)) {
        at = project.get(suppressionHash(projectId, e.distinctId).toString('latin1'));
        erasedAt.set(e.distinctId, at);
      }
      if (at === undefined || e.eventMs > at) kept.push(i);
    }
    const dropped = batch.events.length - kept.length;
    if (dropped === 0) return 0;
    const events = new Array<PreparedEvent>(kept.length);
    const keys = Buffer.allocUnsafe(16 * kept.length);
    kept.forEach((i, j) => {
      events[j] = batch.events[i]!;
      batch.keys.copy(keys, 16 * j, 16 * i, 16 * i + 16);
    });
    batch.events = events;
    batch.keys = keys;
    return dropped;
  }
}
