import type { OutboxRecord } from '../../outbox/outbox.js';
import { REDACTED } from '../../pipeline/redactFields.js';
import { rewriteEvent } from './rewriteEvent.js';

const LABELLED = /^\[REDACTED:[^\]]*\]$/;
const HASHED = /^\[HASH:[0-9a-f]{16}\]$/;

/** Whether a trait's value is one redaction put in place of a whole value. */
export type ReplacedWhole = (value: string) => boolean;

/**
 * Any replacement some redaction options could have written: an event waiting in the outbox may
 * have been redacted by another run, or another process, with other options than the one that
 * sends it.
 */
export const isDefaultReplacement: ReplacedWhole = (value) =>
  value === REDACTED || LABELLED.test(value) || HASHED.test(value);

/** `isDefaultReplacement`, and the app's own `redaction.patterns.replacement` (even `''`) when set. */
export function replacedWholeFor(replacement: string | undefined): ReplacedWhole {
  if (replacement === undefined || replacement === REDACTED) return isDefaultReplacement;
  return (value) => value === replacement || isDefaultReplacement(value);
}

/**
 * `$set` (and `$set_once`) without the traits redaction replaced: PostHog's `$set`
 * overwrites the person's property, so an email the app's backend had set became the text
 * `[REDACTED]` (or a hash). Left out, the person keeps what it had.
 */
export function withoutRedactedTraits(
  record: OutboxRecord,
  replaced: ReplacedWhole = isDefaultReplacement,
): OutboxRecord {
  // Only identify events carry them: others are not parsed.
  if (!record.json.includes('"$set')) return record;
  return rewriteEvent(record, (_event, properties) => {
    let changed = false;
    for (const key of ['$set', '$set_once']) {
      const traits = properties[key];
      if (traits === null || typeof traits !== 'object' || Array.isArray(traits)) continue;
      const kept = dropRedacted(traits as Record<string, unknown>, replaced);
      if (kept !== traits) {
        properties[key] = kept;
        changed = true;
      }
    }
    return changed;
  });
}

/**
 * `traits` without the keys whose value redaction replaced whole (`[REDACTED]`, a label, a hash or
 * the app's own replacement), or holds such a value at any depth: both destinations set a trait's
 * value whole, so `contact: { email: '[REDACTED]' }` would replace the stored contact and its
 * email. `traits` itself when there is none.
 */
export function dropRedacted(
  traits: Record<string, unknown>,
  replaced: ReplacedWhole = isDefaultReplacement,
): Record<string, unknown> {
  const holds = (value: unknown): boolean => holdsReplaced(value, replaced);
  if (!Object.values(traits).some(holds)) return traits;
  // Defined, not assigned: a trait named `__proto__` stays a trait.
  return Object.fromEntries(Object.entries(traits).filter(([, value]) => !holds(value)));
}

/** Whether `value` is, or holds, a value redaction replaced whole. Traits come from JSON: no cycle. */
function holdsReplaced(value: unknown, replaced: ReplacedWhole): boolean {
  if (typeof value === 'string') return replaced(value);
  if (value === null || typeof value !== 'object') return false;
  return (Array.isArray(value) ? value : Object.values(value)).some((v) => holdsReplaced(v, replaced));
}
