import type { OutboxRecord } from '../../outbox/outbox.js';
import { REDACTED } from '../../pipeline/redactFields.js';
import { rewriteEvent } from './rewriteEvent.js';

const REDACTED_JSON = JSON.stringify(REDACTED);

/**
 * `$set` (and `$set_once`) without the traits redaction replaced whole: PostHog's `$set`
 * overwrites the person's property, so an email the app's backend had set became the text
 * `[REDACTED]`. Left out, the person keeps what it had.
 */
export function withoutRedactedTraits(record: OutboxRecord): OutboxRecord {
  if (!record.json.includes('"$set') || !record.json.includes(REDACTED_JSON)) return record;
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

/** `traits` without the keys whose value is `[REDACTED]`, or `traits` itself when it has none. */
export function dropRedacted(traits: Record<string, unknown>): Record<string, unknown> {
  if (!Object.values(traits).includes(REDACTED)) return traits;
  // Defined, not assigned: a trait named `__proto__` stays a trait.
  return Object.fromEntries(Object.entries(traits).filter(([, value]) => value !== REDACTED));
}
