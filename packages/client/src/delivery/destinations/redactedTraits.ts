import type { OutboxRecord } from '../../outbox/outbox.js';
import { REDACTED } from '../../pipeline/redactFields.js';
import { rewriteEvent } from './rewriteEvent.js';

const REDACTED_JSON = JSON.stringify(REDACTED);
/** What `redaction.hashKey` (or `hash: true`) puts in place of a value: see `keyedHash`. */
const HASH_PREFIX_JSON = '"[HASH:';
const HASHED = /^\[HASH:[0-9a-f]{16}\]$/;

/**
 * `$set` (and `$set_once`) without the traits redaction replaced: PostHog's `$set`
 * overwrites the person's property, so an email the app's backend had set became the text
 * `[REDACTED]` (or a hash). Left out, the person keeps what it had.
 */
export function withoutRedactedTraits(record: OutboxRecord): OutboxRecord {
  if (!record.json.includes('"$set')) return record;
  if (!record.json.includes(REDACTED_JSON) && !record.json.includes(HASH_PREFIX_JSON)) return record;
  return rewriteEvent(record, (_event, properties) => {
    let changed = false;
    for (const key of ['$set', '$set_once']) {
      const traits = properties[key];
      if (traits === null || typeof traits !== 'object' || Array.isArray(traits)) continue;
      const kept = dropRedacted(traits as Record<string, unknown>);
      if (kept !== traits) {
        properties[key] = kept;
        changed = true;
      }
    }
    return changed;
  });
}

/**
 * `traits` without the keys whose value redaction replaced whole (`[REDACTED]` or a hash), or
 * holds such a value at any depth: both destinations set a trait's value whole, so
 * `contact: { email: '[REDACTED]' }` would replace the stored contact and its email. `traits`
 * itself when there is none.
 */
export function dropRedacted(traits: Record<string, unknown>): Record<string, unknown> {
  if (!Object.values(traits).some(holdsReplaced)) return traits;
  // Defined, not assigned: a trait named `__proto__` stays a trait.
  return Object.fromEntries(Object.entries(traits).filter(([, value]) => !holdsReplaced(value)));
}

/** Whether `value` is, or holds, a value redaction replaced whole. Traits come from JSON: no cycle. */
function holdsReplaced(value: unknown): boolean {
  if (typeof value === 'string') return value === REDACTED || HASHED.test(value);
  if (value === null || typeof value !== 'object') return false;
  return (Array.isArray(value) ? value : Object.values(value)).some(holdsReplaced);
}
