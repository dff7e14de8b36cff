import type { OutboxRecord } from '../../outbox/outbox.js';
import { REDACTED } from '../../pipeline/redactFields.js';
import { rewriteEvent } from './rewriteEvent.js';

const LABELLED = /^\[REDACTED:[^\]]*\]$/;
const HASHED = /^\[HASH:[0-9a-f]{16}\]$/;

/** Whether a trait's value is one redaction put in place of a whole value. */
export type ReplacedWhole = (value: string) => boolean;

/** What a client's redaction options write in place of a whole value. */
export interface ReplacementMarks {
  /** Texts written as they are: `[REDACTED]`, the app's `patterns.replacement` (even `''`). */
  readonly exact: readonly string[];
  /** `[REDACTED:<pattern name>]` (`patterns.labels`). */
  readonly labels: boolean;
  /** `[HASH:<16 hex>]` (a `hashKey`: see `keyedHash`). */
  readonly hashes: boolean;
}

/**
 * Any replacement some options could have written: for a sender that does not know the options
 * the events were redacted with (`homing flush`), so a `[REDACTED:…]` or `[HASH:…]` trait value
 * of the app's own is left out there too.
 */
export const isDefaultReplacement: ReplacedWhole = (value) =>
  value === REDACTED || LABELLED.test(value) || HASHED.test(value);

/** Exactly what these options write: a value only the options not in use would write is kept. */
export function replacedWholeFor(marks: ReplacementMarks): ReplacedWhole {
  const exact = new Set(marks.exact);
  return (value) =>
    exact.has(value) || (marks.labels && LABELLED.test(value)) || (marks.hashes && HASHED.test(value));
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
 * the app's own replacement), or
 * holds such a value at any depth: both destinations set a trait's value whole, so
 * `contact: { email: '[REDACTED]' }` would replace the stored contact and its email. `traits`
 * itself when there is none.
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
