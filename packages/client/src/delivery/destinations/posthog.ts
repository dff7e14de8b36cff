import type { OutboxRecord } from '../../outbox/outbox.js';
import type { ResolvedEndpoint } from '../deliveryOptions.js';
import type { Destination, SendContext, SendOutcome, UnloadRequest } from './destination.js';
import { batchParts, joinRecords } from './destination.js';
import { httpSend } from './httpSend.js';
import { postHogExceptionRecord } from './postHogException.js';
import { isDefaultReplacement, type ReplacedWhole, withoutRedactedTraits } from './redactedTraits.js';

/**
 * PostHog's batch API: `POST {host}/batch/` with
 * `{ api_key, batch: [{ event, distinct_id, properties, timestamp, uuid }], sent_at }`.
 * A Homing event has exactly those fields, so the stored JSON goes in as it is, but for a
 * `$exception`, whose stacks go in PostHog's shape (`postHogException.ts`), and traits that
 * redaction replaced whole, which are left out (`redactedTraits.ts`).
 */
export class PostHogDestination implements Destination {
  readonly sendsOnUnload = true;
  private readonly url: string;
  private readonly keyJson: string;
  private readonly key: string;

  constructor(
    endpoint: ResolvedEndpoint,
    private readonly replacedWhole: ReplacedWhole = isDefaultReplacement,
  ) {
    this.url = `${endpoint.host}/batch/`;
    this.keyJson = JSON.stringify(endpoint.key);
    this.key = endpoint.key;
  }

  send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome> {
    return httpSend(
      {
        url: this.url,
        body: batchParts(
          `{"api_key":${this.keyJson},"batch":[`,
          records.map((r) => toPostHogRecord(r, this.replacedWhole)),
          `],"sent_at":${JSON.stringify(context.sentAt)}}`,
        ),
        headers: {},
        secrets: [this.key],
      },
      context,
    );
  }

  /** The same body: the key is already in it; sent as text/plain so no preflight is needed. */
  unloadRequest(records: readonly OutboxRecord[], sentAt: string): UnloadRequest {
    return { url: this.url, body: this.body(records, sentAt) };
  }

  private body(records: readonly OutboxRecord[], sentAt: string): string {
    return `{"api_key":${this.keyJson},"batch":${joinRecords(records.map((r) => toPostHogRecord(r, this.replacedWhole)))},"sent_at":${JSON.stringify(sentAt)}}`;
  }
}

function toPostHogRecord(record: OutboxRecord, replacedWhole: ReplacedWhole): OutboxRecord {
  return postHogExceptionRecord(withoutRedactedTraits(record, replacedWhole));
}
