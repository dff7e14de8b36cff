import type { HomingEvent } from '../../event.js';
import type { OutboxRecord } from '../../outbox/outbox.js';
import type { ResolvedEndpoint } from '../deliveryOptions.js';
import type { Destination, RejectedRecord, SendContext, SendOutcome, UnloadRequest } from './destination.js';
import { httpSend } from './httpSend.js';
import { dropRedacted, isDefaultReplacement, type ReplacedWhole } from './redactedTraits.js';
import { base64 } from './base64.js';
import { utf8Length } from '../../outbox/records.js';

/** Segment refuses larger messages (and then the whole batch): they are dead-lettered here instead. */
export const SEGMENT_MAX_EVENT_BYTES = 32 * 1024;

/**
 * Bytes of messages per request. Segment answers a batch request over 500 KB with a 400, which
 * is final: the whole batch would be dead-lettered. analytics-node keeps its own under 480 KB;
 * a claimed batch larger than this goes out as several requests.
 */
export const SEGMENT_MAX_BATCH_BYTES = 480 * 1024;

/**
 * Segment's batch API: `POST {host}/v1/batch`, `Authorization: Basic base64("<writeKey>:")`,
 * `{ batch: [...], sentAt }`. `$identify` becomes an `identify` message (traits from
 * `properties.$set`, else the properties not starting with `$`); every other event a `track`.
 * `distinct_id` is the `userId`, or the `anonymousId` when `properties.$is_identified` is false.
 * `uuid` is the `messageId`, which Segment dedups on. `$lib` / `$lib_version` go to
 * `context.library`.
 */
export class SegmentDestination implements Destination {
  readonly sendsOnUnload = true;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly keyJson: string;
  private readonly secrets: readonly string[];

  constructor(
    endpoint: ResolvedEndpoint,
    private readonly replacedWhole: ReplacedWhole = isDefaultReplacement,
  ) {
    this.url = `${endpoint.host}/v1/batch`;
    const basic = base64(`${endpoint.key}:`);
    this.headers = { authorization: `Basic ${basic}` };
    this.keyJson = JSON.stringify(endpoint.key);
    this.secrets = [endpoint.key, basic];
  }

  /**
   * One request per `SEGMENT_MAX_BATCH_BYTES` of messages, one after another. A request that
   * fails for a while (5xx, 429, network) fails the batch, which is sent again whole: Segment
   * drops the messages it has already (it dedups on `messageId`). A request refused for good
   * (a 400) refuses only its own messages, which go to the dead letters while the other
   * requests' are acknowledged; when every request is refused, the batch fails as they did.
   */
  async send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome> {
    const { messages, indexes, rejected } = mapRecords(records, this.replacedWhole);
    let accepted = false;
    let firstRefusal: SendOutcome | undefined;
    for (const [from, to] of splitRangesByBytes(messages, SEGMENT_MAX_BATCH_BYTES)) {
      // Each request goes once the one before it is answered, at a time of its own.
      const sentAt = from === 0 ? context.sentAt : new Date().toISOString();
      const body = `{"batch":[${messages.slice(from, to).join(',')}],"sentAt":${JSON.stringify(sentAt)}}`;
      const outcome = await httpSend(
        { url: this.url, body, headers: this.headers, secrets: this.secrets },
        context,
      );
      if (outcome.kind === 'accepted') {
        accepted = true;
        continue;
      }
      if (outcome.failure !== 'permanent') return outcome;
      firstRefusal ??= outcome;
      const reason = `Segment refused the request that held it: ${outcome.reason}`;
      for (let i = from; i < to; i++) rejected.push({ index: indexes[i]!, reason });
    }
    if (!accepted && firstRefusal !== undefined) return firstRefusal;
    return { kind: 'accepted', rejected };
  }

  /** The write key in the body (Segment accepts `writeKey` there), text/plain: no preflight. */
  unloadRequest(records: readonly OutboxRecord[], sentAt: string): UnloadRequest | null {
    const { messages, rejected } = mapRecords(records, this.replacedWhole);
    if (messages.length === 0) return null;
    return {
      url: this.url,
      body: `{"writeKey":${this.keyJson},"batch":[${messages.join(',')}],"sentAt":${JSON.stringify(sentAt)}}`,
      rejected,
    };
  }
}

/** The records as Segment messages, each with its record's index, and the records left out. */
function mapRecords(
  records: readonly OutboxRecord[],
  replacedWhole: ReplacedWhole,
): {
  messages: string[];
  indexes: number[];
  rejected: RejectedRecord[];
} {
  const messages: string[] = [];
  const indexes: number[] = [];
  const rejected: RejectedRecord[] = [];
  records.forEach((record, index) => {
    let message: string | undefined;
    try {
      message = JSON.stringify(toSegment(JSON.parse(record.json) as HomingEvent, replacedWhole));
    } catch {
      rejected.push({ index, reason: 'not a valid event (could not be mapped to a Segment message)' });
      return;
    }
    // Bytes, as Segment counts them: a message of 32 768 characters of Greek is twice that.
    if (utf8Length(message) > SEGMENT_MAX_EVENT_BYTES) {
      rejected.push({ index, reason: `over Segment's ${SEGMENT_MAX_EVENT_BYTES} byte limit per event` });
      return;
    }
    messages.push(message);
    indexes.push(index);
  });
  return { messages, indexes, rejected };
}

/** Consecutive runs of `messages` of at most `maxBytes` each (UTF-8, with their separators). */
export function splitByBytes(messages: readonly string[], maxBytes: number): string[][] {
  return splitRangesByBytes(messages, maxBytes).map(([from, to]) => messages.slice(from, to));
}

/** The runs of `splitByBytes` as `[from, to)` index ranges; a message larger than `maxBytes` alone. */
export function splitRangesByBytes(messages: readonly string[], maxBytes: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const size = utf8Length(messages[i]!) + 1;
    if (i > from && bytes + size > maxBytes) {
      ranges.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (messages.length > from) ranges.push([from, messages.length]);
  return ranges;
}

/** Maps one Homing event onto a Segment message. */
export function toSegment(
  event: HomingEvent,
  replacedWhole: ReplacedWhole = isDefaultReplacement,
): Record<string, unknown> {
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
    // Copied by spread and fromEntries, which define own properties: an assignment (as
    // Object.assign does) of a trait named `__proto__` would set the copy's prototype instead,
    // and the trait would be lost.
    // Without the traits redaction replaced whole: Segment's traits overwrite the user's, so
    // an email set by the app's backend became the text `[REDACTED]` (see `dropRedacted`).
    const traits: Record<string, unknown> = dropRedacted(
      set !== null && typeof set === 'object' && !Array.isArray(set)
        ? { ...(set as Record<string, unknown>) }
        : Object.fromEntries(Object.entries(properties).filter(([k]) => !k.startsWith('$'))),
      replacedWhole,
    );
    const anon =
      typeof properties.$anon_distinct_id === 'string' ? { anonymousId: properties.$anon_distinct_id } : {};
    return { type: 'identify', userId: event.distinct_id, ...anon, traits, ...common };
  }
  return { type: 'track', event: event.event, ...who, properties, ...common };
}
