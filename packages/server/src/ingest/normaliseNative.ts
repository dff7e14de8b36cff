import { buildIngestEvent, type BuildContext, type Built } from './buildIngestEvent.js';

/**
 * One event in Homing's own shape `{ uuid?, event, distinct_id, timestamp?, properties? }`,
 * which is also PostHog's: so this reads PostHog's variations too (distinct_id inside
 * properties, `$set`/`$set_once` beside them, `offset` instead of a timestamp).
 */
export function normaliseNative(raw: unknown, skewMs: number, ctx: BuildContext): Built {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'event must be an object';
  const e = raw as Record<string, unknown>;
  let properties = e.properties;
  const plain = properties === undefined || isPlainObject(properties);
  const p = (plain ? properties : undefined) as Record<string, unknown> | undefined;
  const distinctId = e.distinct_id ?? e.$distinct_id ?? p?.distinct_id ?? p?.$distinct_id;
  if (plain && (e.$set !== undefined || e.$set_once !== undefined)) {
    properties = {
      ...p,
      ...(e.$set !== undefined ? { $set: e.$set } : {}),
      ...(e.$set_once !== undefined ? { $set_once: e.$set_once } : {}),
    };
  }
  let timestamp = e.timestamp;
  let skew = skewMs;
  // posthog-js: `offset` ms before it sent the batch, measured on its own clock: no skew.
  if (
    (timestamp === undefined || timestamp === null) &&
    typeof e.offset === 'number' &&
    Number.isFinite(e.offset)
  ) {
    timestamp = ctx.receivedMs - e.offset;
    skew = 0;
  }
  return buildIngestEvent(
    { uuid: e.uuid, event: e.event, distinctId, timestamp, properties, skewMs: skew },
    ctx,
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
