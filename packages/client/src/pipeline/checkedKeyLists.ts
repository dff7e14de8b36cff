import { KeyListMemo } from './KeyListMemo.js';

/**
 * The key lists of objects `checkPlainJsonData` found plain and clean: every key of them is not
 * a field the field pass replaces, not a reserved key (`top` only: reserved keys are checked at
 * the top level) and clean for the string check. An object of a known shape then skips the three
 * checks of each key, for a comparison by identity: a clean event is read in place faster than
 * when keys went unchecked by the pattern pass.
 *
 * Kept per string check (each client has its own), for the one field set and reserved list it is
 * used with; with others, the lists start over.
 */
export interface CheckedKeyLists {
  readonly top: KeyListMemo;
  readonly nested: KeyListMemo;
}

interface Entry {
  readonly redacted: ReadonlySet<string> | null;
  readonly reserved: readonly string[];
  readonly lists: CheckedKeyLists;
}

const byCheck = new WeakMap<(s: string) => boolean, Entry>();

export function checkedKeyListsFor(
  check: (s: string) => boolean,
  redacted: ReadonlySet<string> | null,
  reserved: readonly string[],
): CheckedKeyLists {
  let entry = byCheck.get(check);
  if (entry === undefined || entry.redacted !== redacted || !sameKeys(entry.reserved, reserved)) {
    entry = { redacted, reserved, lists: { top: new KeyListMemo(), nested: new KeyListMemo() } };
    byCheck.set(check, entry);
  }
  return entry.lists;
}

/** The reserved keys are few, and a caller may make a new array of them for each call. */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
