import { agreedKey, stringField, type KeySource } from './requestKeys.js';

/** Where PostHog's capture reads a key on the body and on each event (its `RawEvent.token`). */
const KEY_FIELDS = ['api_key', 'token', '$token'] as const;
/** Where posthog-js puts it on an event: `properties.token` (`$token` when there is no `token`). */
const PROPERTY_KEY_FIELDS = ['token', '$token'] as const;

/**
 * The write key of a PostHog capture request, from every place PostHog's SDKs put it: a Bearer
 * header, the body's `api_key` / `token` / `$token` (posthog-node's `{ api_key, batch }`, a
 * single event), each event's own `api_key` / `token` / `$token`, and, for an event without
 * one, its `properties.token` (posthog-js's arrays). Like PostHog's capture, which refuses a
 * batch with inconsistent keys, any two different keys are refused (`agreedKey`).
 *
 * When the body itself names a key, events' properties are not read for one: PostHog reads
 * only the envelope's key then, and a server SDK's event may carry an app's own `token`
 * property (a push token, say) that is no write key.
 *
 * `envelope` is the body when it is an object (for a single event, the event itself), else
 * undefined; `items` the events.
 */
export function posthogKey(
  bearer: string | undefined,
  envelope: unknown,
  items: readonly unknown[],
): string | undefined {
  return agreedKey(keySources(bearer, envelope, items));
}

function keySources(bearer: string | undefined, envelope: unknown, items: readonly unknown[]): KeySource[] {
  const bodyKeys = fieldKeys(envelope, KEY_FIELDS, "the body's ");
  const bodyNamesKey = bodyKeys.some(([, key]) => key !== undefined);
  const sources: KeySource[] = [['Authorization', bearer], ...bodyKeys];
  items.forEach((item, i) => {
    // A single event is the body itself: its keys are the body's.
    const ownKeys = item === envelope ? bodyKeys : fieldKeys(item, KEY_FIELDS, `event ${i}'s `);
    if (item !== envelope) sources.push(...ownKeys);
    if (bodyNamesKey || ownKeys.some(([, key]) => key !== undefined)) return;
    const properties =
      item !== null && typeof item === 'object' ? (item as Record<string, unknown>).properties : undefined;
    // The first one present only: PostHog reads `properties.token`, and an app's own `$token`
    // beside it is data, not a second key to compare it with.
    const first = fieldKeys(properties, PROPERTY_KEY_FIELDS, `event ${i}'s properties.`).find(
      ([, key]) => key !== undefined,
    );
    if (first !== undefined) sources.push(first);
  });
  return sources;
}

/** Each field's key, named for the refusal as `prefix` + field ("event 3's properties.token"). */
function fieldKeys(object: unknown, fields: readonly string[], prefix: string): KeySource[] {
  return fields.map((field) => [`${prefix}${field}`, stringField(object, field)]);
}
