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
      readonly acceptedBy: readonly string[];
      readonly rejected: readonly RejectedRecord[];
    }
  /** 413: release, then claim half as many and send again. */
  | { readonly action: 'split' }
  /** Every endpoint refused it for good. */
  | { readonly action: 'dead-letter'; readonly reason: string }
  /** Try again later. */
  | { readonly action: 'release' };

/**
 * What to do with a claimed batch once its endpoints answered. `endpointCount` is how many
 * endpoints are configured: a batch is dead-lettered only when every one of them answered and
 * refused it for good (one that was skipped, open or in backoff, may still take it).
 */
export function decideBatch(
  results: readonly EndpointResult[],
  endpointCount: number,
  size: number,
): BatchDecision {
  const accepted = results.filter((r) => r.result.kind === 'accepted');
  if (accepted.length > 0) {
    return { action: 'ack', acceptedBy: accepted.map((r) => r.endpoint), rejected: rejectedByAll(accepted) };
  }
  const tooLarge = results.some((r) => r.result.kind === 'failed' && r.result.failure === 'too-large');
  if (tooLarge && size > 1) return { action: 'split' };
  const allRefused =
    results.length >= endpointCount &&
    results.every(
      (r) =>
        r.result.kind === 'failed' && (r.result.failure === 'permanent' || r.result.failure === 'too-large'),
    );
  if (allRefused) {
    const reasons = results.map((r) =>
      r.result.kind === 'failed' ? `${r.endpoint}: ${r.result.reason}` : '',
    );
    return { action: 'dead-letter', reason: reasons.join('; ') };
  }
  return { action: 'release' };
}

function rejectedByAll(accepted: readonly EndpointResult[]): RejectedRecord[] {
  const lists = accepted.map((r) => (r.result.kind === 'accepted' ? r.result.rejected : []));
  const first = lists[0] ?? [];
  if (first.length === 0) return [];
  return first.filter((rec) => lists.every((list) => list.some((other) => other.index === rec.index)));
}
