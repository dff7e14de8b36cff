import { buildIngestEvent, type BuildContext, type Built } from './buildIngestEvent.js';
import { clockSkewMs } from './eventTime.js';

export type SegmentType = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias';

export const SEGMENT_TYPES: readonly SegmentType[] = [
  'track',
  'identify',
  'page',
  'screen',
  'group',
  'alias',
];

/**
 * One Segment message mapped onto Homing's event, the way PostHog maps Segment:
 * `messageId` → uuid, `userId` (else `anonymousId`) → distinct_id, track → its `event`,
 * identify → `$identify` with traits as `$set`, page → `$pageview`, screen → `$screen`,
 * group → `$groupidentify`, alias → `$create_alias`. `context` is kept as `$context`, its
 * library as `$lib`/`$lib_version`. The message's own `sentAt` corrects skew, else the batch's.
 */
export function normaliseSegment(
  raw: unknown,
  routeType: SegmentType | null,
  batchSkewMs: number,
  ctx: BuildContext,
): Built {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'message must be an object';
  const m = raw as Record<string, unknown>;
  const type = m.type ?? routeType;
  if (typeof type !== 'string' || !(SEGMENT_TYPES as readonly string[]).includes(type)) {
    return `type must be one of ${SEGMENT_TYPES.join(', ')}`;
  }
  const given = m.properties ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    return 'properties must be an object';
  const properties: Record<string, unknown> = { ...(given as Record<string, unknown>) };
  let event: unknown;
  switch (type as SegmentType) {
    case 'track':
      event = m.event;
      break;
    case 'identify':
      event = '$identify';
      if (m.traits !== undefined) properties.$set = m.traits;
      break;
    case 'page':
      event = '$pageview';
      if (m.name !== undefined) properties.$name = m.name;
      if (m.category !== undefined) properties.$category = m.category;
      if (typeof properties.url === 'string') properties.$current_url ??= properties.url;
      break;
    case 'screen':
      event = '$screen';
      if (m.name !== undefined) properties.$screen_name = m.name;
      break;
    case 'group':
      event = '$groupidentify';
      properties.$group_key = m.groupId;
      if (m.traits !== undefined) properties.$group_set = m.traits;
      break;
    case 'alias':
      event = '$create_alias';
      properties.alias = m.previousId;
      break;
  }
  // An empty id is no id: analytics.js sends userId "" for a signed-out user with an anonymousId.
  const userId = m.userId === '' ? null : (m.userId ?? null);
  const anonymousId = m.anonymousId === '' ? null : (m.anonymousId ?? null);
  if (userId !== null && anonymousId !== null) properties.$anon_distinct_id = anonymousId;
  const context = m.context;
  if (context !== null && typeof context === 'object' && !Array.isArray(context)) {
    const c = context as Record<string, unknown>;
    const lib = c.library as Record<string, unknown> | undefined;
    if (lib !== null && typeof lib === 'object') {
      if (lib.name !== undefined) properties.$lib ??= lib.name;
      if (lib.version !== undefined) properties.$lib_version ??= lib.version;
    }
    properties.$context = context;
  }
  const skewMs =
    m.sentAt !== undefined && m.sentAt !== null ? clockSkewMs(m.sentAt, ctx.receivedMs) : batchSkewMs;
  return buildIngestEvent(
    {
      uuid: m.messageId,
      event,
      distinctId: userId ?? anonymousId,
      timestamp: m.timestamp ?? m.originalTimestamp,
      properties,
      skewMs,
      names: {
        uuid: 'messageId',
        distinctId:
          userId !== null ? 'userId' : anonymousId !== null ? 'anonymousId' : 'userId or anonymousId',
      },
    },
    ctx,
  );
}
