import { describe, expect, it } from 'vitest';
import type { SinkHandler, SinkRequest } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, useCleanups } from './delivery.test-helpers.js';

const cleanups = useCleanups();
const sink = (handler: SinkHandler): Promise<Sink> => cleanups.sink(handler);

/** The answers the sink gave, in the order the requests arrived. */
function answers(s: Sink, refused: Set<SinkRequest>): number[] {
  return s.requests.map((r) => (refused.has(r) ? 413 : 202));
}

/**
 * A backlog sent to an endpoint behind a size limit it answers 413 to. Halving finds a size that
 * passes; then batches must not grow back over what was refused (doubling back after every
 * accepted batch made every other request a 413, uploaded whole for nothing).
 */
describe('413: batches stay under the size that was refused', () => {
  for (const limit of ['bytes', 'events'] as const) {
    for (const concurrency of [1, 4]) {
      it(`a limit in ${limit}, ${concurrency} worker(s): after the first batches that pass, none is refused again`, async () => {
        const refused = new Set<SinkRequest>();
        const s = await sink((req) => {
          const over = limit === 'bytes' ? Buffer.byteLength(req.text) > 16 * 1024 : req.uuids.length > 40;
          if (!over) return { status: 202 };
          refused.add(req);
          return { status: 413 };
        });
        const h = startDelivery({
          endpoints: [{ destination: 'homing', host: s.url, key: 'k' }],
          intervalMs: 60_000,
          gzip: false,
          concurrency,
        });
        cleanups.add(() => h.delivery.shutdown(0));
        const records = makeRecords(2_000, () => ({ pad: 'p'.repeat(300) }));
        h.outbox.append(records);

        const result = await h.delivery.flush(60_000);
        expect(result).toMatchObject({ pending: 0, timedOut: false });
        expect(new Set(s.acceptedUuids).size).toBe(records.length);
        expect(s.acceptedUuids).toHaveLength(records.length);
        expect(await h.outbox.listDeadLetters()).toEqual([]);

        const codes = answers(s, refused);
        const firstAccepted = codes.indexOf(202);
        // After the first accepted batch: the requests already in flight at the refused sizes,
        // and one probe toward the refused size per worker; never the old saw-tooth.
        expect(codes.slice(firstAccepted).filter((c) => c === 413).length).toBeLessThanOrEqual(
          2 * concurrency,
        );
        // The second half of the drain: not one refusal.
        expect(codes.slice(Math.floor(codes.length / 2))).not.toContain(413);
      });
    }
  }
});
