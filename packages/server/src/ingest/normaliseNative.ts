import { buildIngestEvent, type BuildContext, type Built } from './buildIngestEvent.js';
import { contentUuid } from './contentUuid.js';
import { readTimestamp } from './eventTime.js';
import { formatIso } from './formatIso.js';

/**
 * One event in Homing's own shape `{ uuid?, event, distinct_id, timestamp?, properties? }`,
 * which is also PostHog's: so this reads PostHog's variations too (distinct_id inside
 * properties, `$set`/`$set_once` beside them, `offset` instead of a timestamp,
 * `$ignore_sent_at` for an imported event whose timestamp must not be corrected).
 * `sentMs` is the request's send time on the client's clock (epoch ms), when it carries one.
 */
export function normaliseNative(raw: unknown, skewMs: number, ctx: BuildContext, sentMs?: number): Built {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'event must be an object';
  const e = raw as Record<string, unknown>;
  let properties = e.properties;
  const plain = properties === undefined || isPlainObject(properties);
  const p = (plain ? properties : undefined) as Record<string, unknown> | undefined;
  const distinctId = e.distinct_id ?? e.$distinct_id ?? p?.distinct_id ?? p?.$distinct_id;
  if (plain && (e.$set !== undefined || e.$set_once !== undefined)) {
    properties = {
      ...p,
      ...(e.$set !== undefined ? { $set: mergedPersonProps(p?.$set, e.$set) } : {}),
      ...(e.$set_once !== undefined ? { $set_once: mergedPersonProps(p?.$set_once, e.$set_once) } : {}),
    };
  }
  let timestamp = e.timestamp;
  let uuid = e.uuid;
  // PostHog's flag for imports and replays: the timestamp is right as given, whenever sent.
  const asserted = p?.$ignore_sent_at === true;
  let skew = asserted ? 0 : skewMs;
  // posthog-js: `offset` ms before it sent the batch, measured on its own clock: no skew.
  if (
    (timestamp === undefined || timestamp === null) &&
    typeof e.offset === 'number' &&
    Number.isFinite(e.offset)
  ) {
    timestamp = ctx.receivedMs - e.offset;
    // Named as what was sent: the timestamp's own error would name a field the sender left out.
    if (Number.isNaN(readTimestamp(timestamp))) {
      return 'offset must be the milliseconds from the event to the sending of its batch; this one dates it outside the range of dates';
    }
    skew = 0;
    // Derived from the receive time, that time differs on every resend: in the content hash it
    // made each resend a new event. Send time minus offset, both read on the client's clock, is
    // the same on every resend (sent unchanged, or both recomputed) and differs between separate
    // events, even of one batch: the uuid is the one of the event with that timestamp. Without a
    // send time, the offset itself is hashed: a batch sent again unchanged is a duplicate, and
    // separate events stay apart unless their offsets are equal too (hashed as an event without
    // a timestamp, every later click with the same properties was a duplicate of the first).
    if (uuid === undefined || uuid === null) {
      const clientMs = sentMs === undefined ? undefined : readTimestamp(sentMs - e.offset);
      const at =
        clientMs === undefined || Number.isNaN(clientMs) ? `offset:${e.offset}` : formatIso(clientMs);
      uuid = derivedContentUuid(e.event, distinctId, properties, at);
    }
  }
  return buildIngestEvent(
    {
      uuid,
      event: e.event,
      distinctId,
      timestamp,
      properties,
      skewMs: skew,
      timestampAsserted: asserted,
    },
    ctx,
  );
}

/** A request's send time (`sent_at`, or posthog-js's `_`) as epoch ms, for `normaliseNative`'s `sentMs`. */
export function sendTimeMs(sentAt: unknown): number | undefined {
  const ms = readTimestamp(sentAt);
  return ms === undefined || Number.isNaN(ms) ? undefined : ms;
}

/**
 * The uuid buildIngestEvent derives for the event with timestamp `at` (ISO 8601 as it formats
 * one; or `offset:<ms>`, which no timestamp is), or undefined for parts it refuses anyway (it then names the reason). The id
 * as it is stored: a number becomes its decimal string there too.
 */
function derivedContentUuid(
  event: unknown,
  distinctId: unknown,
  properties: unknown,
  at: string,
): string | undefined {
  if (typeof event !== 'string') return undefined;
  const id = typeof distinctId === 'number' ? String(distinctId) : distinctId;
  if (typeof id !== 'string') return undefined;
  const props = properties ?? {};
  if (!isPlainObject(props)) return undefined;
  return contentUuid({ event, distinctId: id, timestamp: at, properties: props });
}

/**
 * posthog-js sends initial person properties in a top-level `$set_once` and the app's own in
 * `properties.$set_once`: PostHog keeps both, the top level winning a key they share.
 */
function mergedPersonProps(inProperties: unknown, beside: unknown): unknown {
  return isPlainObject(inProperties) && isPlainObject(beside) ? { ...inProperties, ...beside } : beside;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
