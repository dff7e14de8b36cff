import type { HomingEvent } from '../../event.js';
import type { OutboxRecord } from '../../outbox/outbox.js';
import type { ResolvedEndpoint } from '../deliveryOptions.js';
import type { Destination, RejectedRecord, SendContext, SendOutcome, UnloadRequest } from './destination.js';
import { httpSend } from './httpSend.js';
import { base64 } from './base64.js';

/** Segment refuses larger messages (and then the whole batch): they are dead-lettered here instead. */
export const SEGMENT_MAX_EVENT_BYTES = 32 * 1024;

/**
 * Segment's batch API: `POST {host}/v1/batch`, `Authorization: Basic base64("<writeKey>:")`,
 * `{ batch: [...], sentAt }`. `$identify` becomes an `identify` message (traits from
 * `properties.$set`, else the properties not starting with `$`); every other event a `track`.
 * `distinct_id` is the `userId`, or the `anonymousId` when `properties.$is_identified` is false.
 * `uuid` is the `messageId`, which Segment dedups on. `$lib` / `$lib_version` go to
 * `context.library`.
 */
export class SegmentDestination implements Destination {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly keyJson: string;

  constructor(endpoint: ResolvedEndpoint) {
    this.url = `${endpoint.host}/v1/batch`;
    this.headers = { authorization: `Basic ${base64(`${endpoint.key}:`)}` };
    this.keyJson = JSON.stringify(endpoint.key);
  }

  async send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome> {
    const { messages, rejected } = mapRecords(records);
    if (messages.length === 0) return { kind: 'accepted', rejected };
    const body = `{"batch":[${messages.join(',')}],"sentAt":${JSON.stringify(context.sentAt)}}`;
    const outcome = await httpSend(
      { url: this.url, body, headers: this.headers, conflictIsSuccess: false },
      context,
    );
    return outcome.kind === 'accepted' ? { kind: 'accepted', rejected } : outcome;
  }

  /** The write key in the body (Segment accepts `writeKey` there), text/plain: no preflight. */
  unloadRequest(records: readonly OutboxRecord[], sentAt: string): UnloadRequest | null {
    const { messages } = mapRecords(records);
    if (messages.length === 0) return null;
    return {
      url: this.url,
      body: `{"writeKey":${this.keyJson},"batch":[${messages.join(',')}],"sentAt":${JSON.stringify(sentAt)}}`,
    };
  }
}

function mapRecords(records: readonly OutboxRecord[]): { messages: string[]; rejected: RejectedRecord[] } {
  const messages: string[] = [];
  const rejected: RejectedRecord[] = [];
  records.forEach((record, index) => {
    let message: string | undefined;
    try {
      message = JSON.stringify(toSegment(JSON.parse(record.json) as HomingEvent));
    } catch {
      rejected.push({ index, reason: 'not a valid event (could not be mapped to a Segment message)' });
      return;
    }
    if (message.length > SEGMENT_MAX_EVENT_BYTES) {
      rejected.push({ index, reason: `over Segment's ${SEGMENT_MAX_EVENT_BYTES} byte limit per event` });
      return;
    }
    messages.push(message);
  });
  return { messages, rejected };
}

/** Maps one Homing event onto a Segment message. */
export function toSegment(event: HomingEvent): Record<string, unknown> {
  if (event === null || typeof event !== 'object' || typeof event.event !== 'string') {
    throw new TypeError('not an event');
  }
  const properties: Record<string, unknown> =
    event.properties !== null && typeof event.properties === 'object' ? { ...event.properties } : {};
  const library: Record<string, unknown> = {};
  if (typeof properties.$lib === 'string') library.name = properties.$lib;
  if (typeof properties.$lib_version === 'string') library.version = properties.$lib_version;
  delete properties.$lib;
  delete properties.$lib_version;
  const anonymous = properties.$is_identified === false;
  const who = anonymous ? { anonymousId: event.distinct_id } : { userId: event.distinct_id };
  const common = {
    timestamp: event.timestamp,
    messageId: event.uuid,
    context: Object.keys(library).length > 0 ? { library } : {},
  };
  if (event.event === '$identify') {
    const set = properties.$set;
    const traits: Record<string, unknown> = {};
    if (set !== null && typeof set === 'object' && !Array.isArray(set)) Object.assign(traits, set);
    else for (const [k, v] of Object.entries(properties)) if (!k.startsWith('$')) traits[k] = v;
    const anon =
      typeof properties.$anon_distinct_id === 'string' ? { anonymousId: properties.$anon_distinct_id } : {};
    return { type: 'identify', userId: event.distinct_id, ...anon, traits, ...common };
  }
  return { type: 'track', event: event.event, ...who, properties, ...common };
}
