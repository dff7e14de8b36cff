import { claimedMatcher } from '../memory.js';
import type { OutboxRecord } from '../outbox.js';
import type { Claimed, ClaimsInFlight } from './ClaimsInFlight.js';
import type { UnloadBatches } from './UnloadBatches.js';
import type { Pending } from './WriteBuffer.js';

export interface DeadLetterPick {
  /** Taken out of `claim`'s batches (still claimed until the move settles). */
  readonly moved: Claimed[];
  /** Held by unload batches (taken out of them by `UnloadBatches.takeForDeadLetter`). */
  readonly fromBatches: Pending[];
  /** The records to keep as dead letters. */
  readonly dead: OutboxRecord[];
  /** How many a `clear()` took while in flight: dropped (`consent`), not kept. */
  readonly cleared: number;
}

/**
 * Which records of the batches in flight (`claim`'s and the unload send's) `deadLetter(records)`
 * names; null when none. Those a clear took while in flight are dropped, not kept: a dead letter
 * can be replayed, which would send them after consent was withdrawn.
 */
export function pickDeadLetters(
  records: readonly OutboxRecord[],
  claims: ClaimsInFlight,
  unload: UnloadBatches,
): DeadLetterPick | null {
  const fromUnload = unload.held();
  const match = claimedMatcher(records, [...claims.all(), ...fromUnload]);
  const moved = claims.takeMatching(match);
  const fromBatches = fromUnload.filter((p) => match(p.record));
  if (moved.length === 0 && fromBatches.length === 0) return null;
  const takenByClear = new Set(unload.takenByClear());
  const dead = [
    ...moved.filter((m) => m.epoch === claims.epoch).map((m) => m.record),
    ...fromBatches.filter((p) => !takenByClear.has(p)).map((p) => p.record),
  ];
  const cleared = moved.length + fromBatches.length - dead.length;
  unload.forgetSeqs(moved.map((m) => m.seq));
  return { moved, fromBatches, dead, cleared };
}
