import type { OutboxRecord } from '../../outbox/outbox.js';
import type { ResolvedEndpoint } from '../deliveryOptions.js';
import type { Destination, RejectedRecord, SendContext, SendOutcome, UnloadRequest } from './destination.js';
import { batchParts, joinRecords } from './destination.js';
import { httpSend } from './httpSend.js';

/**
 * The Homing server: `POST {host}/ingest` with `{ batch, sent_at }` and
 * `Authorization: Bearer <writeKey>`. The server dedups by uuid (a resend is answered 202, its
 * events counted as duplicates), and a 202 may name events it refused
 * (`rejected: [{ index, error }]`): those go to the dead letters while the rest is acked.
 */
export class HomingDestination implements Destination {
  readonly sendsOnUnload = true;
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly endpoint: ResolvedEndpoint) {
    this.url = `${endpoint.host}/ingest`;
    this.headers = { authorization: `Bearer ${endpoint.key}` };
  }

  send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome> {
    const body = batchParts('{"batch":[', records, `],"sent_at":${JSON.stringify(context.sentAt)}}`);
    return httpSend(
      { url: this.url, body, headers: this.headers, secrets: [this.endpoint.key] },
      context,
      (text) => readIngestAnswer(text, records.length),
    );
  }

  /**
   * text/plain with the key in the body (`api_key`, as PostHog clients send it): an
   * `Authorization` header or a JSON content type would make the browser send a CORS preflight
   * first, and a preflight does not survive the page going away.
   */
  unloadRequest(records: readonly OutboxRecord[], sentAt: string): UnloadRequest {
    const body = `{"api_key":${JSON.stringify(this.endpoint.key)},"batch":${joinRecords(records)},"sent_at":${JSON.stringify(sentAt)}}`;
    return { url: this.url, body };
  }
}

/** Reads `{ rejected: [{ index, error }] }` from an ingest answer; anything unexpected rejects nothing. */
export function readIngestAnswer(text: string, count: number): SendOutcome & { kind: 'accepted' } {
  const rejected: RejectedRecord[] = [];
  if (text.includes('"rejected"')) {
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = undefined;
    }
    const list = (answer as { rejected?: unknown } | undefined)?.rejected;
    if (Array.isArray(list)) {
      const seen = new Set<number>();
      for (const item of list) {
        const index = (item as { index?: unknown } | null)?.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) continue;
        if (seen.has(index)) continue;
        seen.add(index);
        const error = (item as { error?: unknown }).error;
        rejected.push({
          index,
          reason: `rejected by the server: ${typeof error === 'string' ? error.slice(0, 200) : 'invalid event'}`,
        });
      }
    }
  }
  return { kind: 'accepted', rejected };
}
