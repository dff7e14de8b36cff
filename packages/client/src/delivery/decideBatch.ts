import type { RejectedRecord } from './destinations/destination.js';
import type { AttemptResult } from './EndpointChannel.js';

export interface EndpointResult {
  readonly endpoint: string;
  readonly result: AttemptResult;
}

export type BatchDecision =
  /** Some endpoint took the batch: dead-letter what every accepting endpoint refused, ack the rest. */
  | {
      readonly action: 'ack';
      /** Each endpoint that took it, with how many of its records that endpoint stored. */
      readonly acceptedBy: readonly { readonly endpoint: string; readonly stored: number }[];
      readonly rejected: readonly RejectedRecord[];
    }
  /** 413: release, then claim half as many and send again. */
  | { readonly action: 'split' }
  /** Every endpoint refused it for good. */
  | { readonly action: 'dead-letter'; readonly reason: string }
  /** Try again later. */
  | { readonly action: 'release' };

/**
 * What to do with a claimed batch once its endpoints answered. `endpoints` are the ids of every
 * configured endpoint; `refusedBefore` the ones that refused all of these records for good in an
 * earlier attempt (endpoint → reason), while the batch waited for another endpoint.
 *
 * A batch is dead-lettered only when every endpoint refused it for good, in this attempt or an
 * earlier one. One that did not answer (skipped while open or in backoff, or failing with a
 * network error, 5xx or 429) may still take it, so the batch waits for it in the outbox, however
 * long its outage (the outbox's retention bounds that wait); the endpoints that refused it wait
 * meanwhile (see `EndpointChannel.waitAfterRefusal`), so they are not asked again in a loop.
 */
export function decideBatch(
  results: readonly EndpointResult[],
  endpoints: readonly string[],
  size: number,
  refusedBefore: ReadonlyMap<string, string> = new Map(),
): BatchDecision {
  const accepted = results.filter((r) => r.result.kind === 'accepted');
  if (accepted.length > 0) {
    return {
      action: 'ack',
      acceptedBy: accepted.map((r) => ({
        endpoint: r.endpoint,
        stored: Math.max(0, size - (r.result.kind === 'accepted' ? r.result.rejected.length : 0)),
      })),
      rejected: rejectedByAll(accepted),
    };
  }
  const tooLarge = results.some((r) => r.result.kind === 'failed' && r.result.failure === 'too-large');
  if (tooLarge && size > 1) return { action: 'split' };
  const reasons: string[] = [];
  for (const endpoint of endpoints) {
    const answer = results.find((r) => r.endpoint === endpoint)?.result;
    // Its answer now, or (when it was not asked) its refusal from before.
    const reason =
      answer === undefined || answer.kind === 'not-ready'
        ? refusedBefore.get(endpoint)
        : refusalReason(answer);
    if (reason === undefined) return { action: 'release' };
    reasons.push(`${endpoint}: ${reason}`);
  }
  return { action: 'dead-letter', reason: reasons.join('; ') };
}

/** The reason when the answer refuses the records for good (the endpoint will never take them as they are). */
export function refusalReason(result: AttemptResult): string | undefined {
  if (result.kind !== 'failed') return undefined;
  return result.failure === 'permanent' || result.failure === 'too-large' ? result.reason : undefined;
}

function rejectedByAll(accepted: readonly EndpointResult[]): RejectedRecord[] {
  const lists = accepted.map((r) => (r.result.kind === 'accepted' ? r.result.rejected : []));
  const first = lists[0] ?? [];
  if (first.length === 0) return [];
  return first.filter((rec) => lists.every((list) => list.some((other) => other.index === rec.index)));
}
