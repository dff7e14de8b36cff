import type { RecordsTx } from './recordStore.js';
import { quiet, readTotals, walk } from './recordStore.js';
import type { Totals } from './schema.js';

/**
 * `clear()` inside one transaction over records and meta: deletes every stored record and
 * `save`s the totals. Answers how many of them were pending (not in `claimed`).
 */
export async function clearRecords(
  tx: RecordsTx,
  save: (totals: Totals) => void,
  claimed: ReadonlySet<number>,
): Promise<number> {
  const store = tx.objectStore('records');
  const totals = await readTotals(tx, { corrupt: 0 });
  let n = 0;
  await walk(store, null, { corrupt: 0 }, (entry) => {
    // Records of batches in flight go now too, not when the batch settles: claims live in
    // memory, so a page closed (or frozen past its lease) before that left them to the next
    // holder, which sent them after consent was withdrawn. Their ack then removes nothing,
    // their release or a close counts them (consent); only the pending ones are answered.
    if (!claimed.has(entry.seq)) n++;
    quiet(store.delete(entry.seq));
    totals.events--;
    totals.bytes -= entry.bytes;
    return true;
  });
  save(totals);
  return n;
}
