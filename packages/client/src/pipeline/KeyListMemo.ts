/**
 * Key lists (`Object.keys` of an object) lately found to pass a per-key check, so that an object
 * of a shape seen before (most events of one name carry the same keys in the same order) costs
 * one comparison by identity per key (property names are interned strings) instead of the check
 * of each key: a lookup per key in `CleanStringMemo` made a clean event a third slower.
 *
 * Only lists that passed are kept. A few are kept per key count (4 each, up to 64 keys), replaced
 * in turn, so the memory is bounded and an app of many shapes costs at worst the per-key checks
 * it would cost without this.
 */
const WAYS = 4;
const MAX_KEYS = 64;

export class KeyListMemo {
  private readonly lists: (readonly string[] | undefined)[] = new Array<undefined>(WAYS * MAX_KEYS);
  private readonly next = new Uint8Array(MAX_KEYS);

  /**
   * The list that passed that `keys` may be: as many keys, the same first and last. The caller
   * compares the rest as it reads them (one loop over the keys, not two).
   */
  candidate(keys: readonly string[]): readonly string[] | undefined {
    const n = keys.length;
    if (n === 0 || n > MAX_KEYS) return undefined;
    const base = (n - 1) * WAYS;
    const first = keys[0];
    const last = keys[n - 1];
    for (let w = 0; w < WAYS; w++) {
      const list = this.lists[base + w];
      if (list !== undefined && list[0] === first && list[n - 1] === last) return list;
    }
    return undefined;
  }

  /** Remembers that every key of `keys` passed (ignored when there are none or too many). */
  add(keys: readonly string[]): void {
    const n = keys.length;
    if (n === 0 || n > MAX_KEYS) return;
    const way = this.next[n - 1]!;
    this.lists[(n - 1) * WAYS + way] = keys;
    this.next[n - 1] = (way + 1) % WAYS;
  }
}
