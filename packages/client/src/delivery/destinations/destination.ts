import type { OutboxRecord } from '../../outbox/outbox.js';
import type { JsonParts } from '../../platform/jsonParts.js';
import type { Platform } from '../../platform/platform.js';

/** What a destination needs to send one batch. */
export interface SendContext {
  /** Aborted on request timeout and on shutdown. */
  readonly signal: AbortSignal;
  readonly platform: Platform;
  /** gzip bodies longer than this; null: never gzip. */
  readonly gzipMinBytes: number | null;
  /** ISO time of sending, for the body's `sent_at` (servers correct clock skew with it). */
  readonly sentAt: string;
}

/** An event the destination accepted the batch without: it can never be delivered there. */
export interface RejectedRecord {
  /** Index in the records that were sent. */
  readonly index: number;
  readonly reason: string;
}

export type FailureKind = 'retryable' | 'rate-limited' | 'permanent' | 'too-large';

export type SendOutcome =
  | { readonly kind: 'accepted'; readonly rejected: readonly RejectedRecord[] }
  | {
      readonly kind: 'failed';
      readonly failure: FailureKind;
      /** For logs and dead letters, e.g. "503 Service Unavailable". */
      readonly reason: string;
      readonly retryAfterMs?: number;
      readonly status?: number;
      readonly error?: unknown;
    };

/** A request that a page going away can still make: a CORS-simple POST (text/plain, no custom header). */
export interface UnloadRequest {
  readonly url: string;
  readonly body: string;
  /** Records the request leaves out for good (Segment: over 32 KB): dead-lettered once it is taken. */
  readonly rejected?: readonly RejectedRecord[];
}

/** A body format and where to send it: Homing, PostHog, Segment or the app's own function. */
export interface Destination {
  send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome>;
  /** Whether a page going away can send to it (`unloadRequest`): not a custom function. */
  readonly sendsOnUnload: boolean;
  /** The request for a page that is going away, or null when there is none (nothing to send). */
  unloadRequest(records: readonly OutboxRecord[], sentAt: string): UnloadRequest | null;
}

/** `head` + the records' stored JSON separated by commas + `tail`, as pieces (see `JsonParts`). */
export function batchParts(head: string, records: readonly OutboxRecord[], tail: string): JsonParts {
  const items: string[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) items[i] = records[i]!.json;
  return { head, items, tail };
}

/** `[json,json,...]` from the records' stored JSON: events are never serialised twice. */
export function joinRecords(records: readonly OutboxRecord[]): string {
  if (records.length === 1) return `[${records[0]!.json}]`;
  let out = '[';
  for (let i = 0; i < records.length; i++) {
    if (i > 0) out += ',';
    out += records[i]!.json;
  }
  return out + ']';
}
