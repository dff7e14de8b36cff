import type { OutboxLimits, OutboxRecord } from '../outbox.js';
import type { Found, RecordsTx } from './recordStore.js';
import { corruptBytes, quiet, readTotals, walk } from './recordStore.js';
import { isJsonText } from '../jsonText.js';
import type { Totals } from './schema.js';
import { isExpired } from './WriteBuffer.js';

export interface ClaimRequest {
  maxEvents: number;
  maxBytes: number;
  nowMs: number;
  limits: OutboxLimits;
  /** Keys already claimed by this outbox: skipped. */
  claimed: ReadonlySet<number>;
  /**
   * Told each key as it is taken: an unload claim (`claimInMemory`, synchronous) may run before
   * the claim's transaction is done, and must see the key claimed by then.
   */
  onTake?: (seq: number) => void;
}

export interface ClaimedRecords {
  taken: { seq: number; record: OutboxRecord; bytes: number }[];
  bytes: number;
  expired: number;
  corrupt: number;
}

/**
 * The oldest unclaimed records within the limits (at least one when any), read in key order.
 * Records past retention and damaged values met on the way (a `json` that no longer parses
 * among them) are deleted and counted, and the totals they held are `save`d.
 */
export async function claimRecords(
  tx: RecordsTx,
  save: (totals: Totals) => void,
  request: ClaimRequest,
): Promise<ClaimedRecords> {
  const { maxEvents, maxBytes, nowMs, limits, claimed } = request;
  const store = tx.objectStore('records');
  const found: Found = { corrupt: 0 };
  const taken: ClaimedRecords['taken'] = [];
  const gone: { bytes: number }[] = [];
  let bytes = 0;
  let expired = 0;
  await walk(
    store,
    null,
    found,
    (entry) => {
      if (claimed.has(entry.seq)) return true;
      if (isExpired(limits, entry.timestampMs, nowMs)) {
        quiet(store.delete(entry.seq));
        gone.push(entry);
        expired++;
        return true;
      }
      if (taken.length > 0 && bytes + entry.bytes > maxBytes) return false;
      if (!isJsonText(entry.json)) {
        // Damaged with its types and byte count intact: it would spoil the batch's request body.
        quiet(store.delete(entry.seq));
        gone.push(entry);
        found.corrupt++;
        return true;
      }
      const record = { uuid: entry.uuid, json: entry.json, timestampMs: entry.timestampMs };
      taken.push({ seq: entry.seq, record, bytes: entry.bytes });
      request.onTake?.(entry.seq);
      bytes += entry.bytes;
      return taken.length < maxEvents;
    },
    (_key, value) => gone.push({ bytes: corruptBytes(value) }),
    // Claimed records come first in key order; they are skipped, so read past them.
    Number.isFinite(maxEvents) ? maxEvents + claimed.size : Infinity,
  );
  if (gone.length > 0) {
    const totals = await readTotals(tx, found);
    totals.events -= gone.length;
    for (const g of gone) totals.bytes -= g.bytes;
    save(totals);
  }
  return { taken, bytes, expired, corrupt: found.corrupt };
}
