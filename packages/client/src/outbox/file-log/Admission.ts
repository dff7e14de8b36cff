import { Buffer } from 'node:buffer';
import type { OutboxLimits, OutboxRecord } from '../outbox.js';
import { type DropListeners, normalizeRecord } from '../records.js';
import type { AppendBuffer, GroupSummary } from './AppendBuffer.js';
import { type EncodableRecord, MAX_UUID_BYTES } from './frame.js';
import type { QueueHolder } from './QueueHolder.js';

export interface AdmissionOptions {
  readonly limits: OutboxLimits;
  /** Stamps records that come without a time. */
  readonly now: () => number;
  /** The time retention ages records as of (`retentionClock`). */
  readonly retentionNow: () => number;
  readonly buffer: AppendBuffer;
  readonly holder: QueueHolder;
  readonly drops: DropListeners;
}

/**
 * What the file log takes of what `append` is given, decided on the caller's turn with no I/O.
 * Not a record, a uuid too long to frame (`corrupt`), JSON alone over `maxBytes` (`too-large`),
 * already past retention (`retention`), and under 'drop-newest' no room left (`overflow`) are
 * counted and left out; the rest wait in the append buffer.
 *
 * "No room" at admission is judged by what is certainly pending (`certain`): the index while this
 * process holds the delivery lock, and only the append buffer without it. What the index held when
 * the lock was let go goes stale as soon as another process delivers, so it may not drop a record:
 * records past the limits by that guess (`stored`) are written, and the write takes the lock to
 * apply the limits on a fresh index (`noteUnindexed`), which drops the newest on disk. So the
 * limits hold in a process without the lock too, and an emptied queue takes records again.
 */
export class Admission {
  /** What this process wrote while it held no index (no lock): counted against the limits. */
  private unindexed = { events: 0, bytes: 0 };

  constructor(private readonly o: AdmissionOptions) {}

  /** `closing`: the outbox is closing; records are then written at once, past the limits. */
  append(records: readonly OutboxRecord[], closing: boolean): void {
    if (!Array.isArray(records) || records.length === 0) return;
    const { limits, buffer, drops } = this.o;
    const nowMs = this.o.now();
    // retentionNow() is never ahead of now(): a record within now()'s period (every one track()
    // makes) is kept without it, which costs two clock readings an append.
    const latestCutoff = limits.retentionMs > 0 ? nowMs - limits.retentionMs : -Infinity;
    let cutoff: number | undefined;
    let invalid = 0;
    let tooLarge = 0;
    let expired = 0;
    let overflow = 0;
    const accepted: EncodableRecord[] = [];
    for (const value of records) {
      const record = normalizeRecord(value, nowMs);
      if (record === null) {
        invalid++;
        continue;
      }
      if (
        record.timestampMs < latestCutoff &&
        record.timestampMs < (cutoff ??= this.o.retentionNow() - limits.retentionMs)
      ) {
        expired++;
        continue;
      }
      const buffered = toFrameRecord(record, limits.maxBytes);
      if (buffered === 'corrupt') {
        invalid++;
        continue;
      }
      if (buffered === 'too-large') {
        tooLarge++;
        continue;
      }
      if (closing) {
        accepted.push(buffered);
        continue;
      }
      if (limits.overflow === 'drop-newest' && !this.fits(buffered.jsonBytes, this.certain())) {
        overflow++;
        continue;
      }
      buffer.push(buffered);
    }
    if (accepted.length > 0) buffer.writeAfterClose(accepted);
    overflow += buffer.trim();
    drops.emit('corrupt', invalid);
    drops.emit('too-large', tooLarge);
    drops.emit('retention', expired);
    drops.emit('overflow', overflow);
    buffer.schedule();
  }

  /** Pending on disk as far as this process knows; without the lock a guess (see the class comment). */
  private stored(): { events: number; bytes: number } {
    const index = this.o.holder.index;
    if (index !== null) return { events: index.events, bytes: index.bytes };
    const known = this.o.holder.lastKnown;
    return {
      events: (known?.events ?? 0) + this.unindexed.events,
      bytes: (known?.bytes ?? 0) + this.unindexed.bytes,
    };
  }

  /** Pending on disk for certain: the index while this process holds the lock, else nothing known. */
  private certain(): { events: number; bytes: number } {
    const index = this.o.holder.index;
    return index === null ? { events: 0, bytes: 0 } : { events: index.events, bytes: index.bytes };
  }

  /** Room for one more record of `jsonBytes` beside `stored` on disk and the buffer (drop-newest). */
  fits(jsonBytes: number, stored: { events: number; bytes: number }): boolean {
    const { limits, buffer } = this.o;
    const events = stored.events + buffer.events;
    const bytes = stored.bytes + buffer.bytes;
    return events + 1 <= limits.maxEvents && bytes + jsonBytes <= limits.maxBytes;
  }

  /** A group written while this process held no index: counted; answers whether it is now over the limits. */
  noteUnindexed(group: GroupSummary): boolean {
    this.unindexed.events += group.events;
    this.unindexed.bytes += group.bytes;
    const { maxEvents, maxBytes } = this.o.limits;
    const stored = this.stored();
    return stored.events > maxEvents || stored.bytes > maxBytes;
  }

  /** A new index has read the directory: it counted what this process wrote without it. */
  forgetUnindexed(): void {
    this.unindexed = { events: 0, bytes: 0 };
  }
}

/**
 * A normalised record as the log frames it, or why it cannot be kept: a uuid longer than a
 * frame holds (`corrupt`), JSON over `maxBytes` (`too-large`).
 */
export function toFrameRecord(
  record: OutboxRecord,
  maxBytes: number,
): EncodableRecord | 'corrupt' | 'too-large' {
  const uuidBytes = Buffer.byteLength(record.uuid);
  if (uuidBytes > MAX_UUID_BYTES) return 'corrupt';
  const jsonBytes = Buffer.byteLength(record.json);
  if (jsonBytes > maxBytes) return 'too-large';
  return { uuid: record.uuid, json: record.json, timestampMs: record.timestampMs, uuidBytes, jsonBytes };
}
