import { cutClear, wellFormedText } from './textCut.js';

/** Longest event name kept; longer names are cut (the event is kept, the fix counted). */
export const MAX_EVENT_NAME_LENGTH = 200;

export type EventNameCheck = { ok: true; name: string; fixed: boolean } | { ok: false; detail: string };

/**
 * Event names from apps are often built from data. Empty or non-string names cannot be
 * grouped by anyone, so the event is dropped (reason 'invalid'); over-long names (cut between
 * characters), surrounding whitespace, NUL and unpaired surrogates (U+FFFD) are fixed, not
 * dropped.
 */
export function checkEventName(input: unknown): EventNameCheck {
  if (typeof input !== 'string')
    return { ok: false, detail: `event name is ${input === null ? 'null' : typeof input}` };
  let name = input.trim();
  if (name.length === 0) return { ok: false, detail: 'event name is empty' };
  name = wellFormedText(cutClear(name, MAX_EVENT_NAME_LENGTH).trimEnd());
  return { ok: true, name, fixed: name !== input };
}
