const STRIDE = 6; // per slot: hash, project pk, the key's four 32-bit words
const MIN_SLOTS = 1024;
/** Largest table clear() zeroes in place (16 calls of 100 events fit in 4096 slots). */
const CLEAR_KEEPS_SLOTS = 16_384;

/**
 * A map from (project pk, 16-byte event key) to a log id, in typed arrays: the ingest log's
 * index of keys not yet expanded, and its scratch set of a group commit's keys. A `Map` keyed
 * by latin1 strings cost the store thread a string, a hash and an entry object per event on
 * the way in and a lookup and delete on the way out, its rehashes grew with the backlog (up to
 * a million keys), and the garbage collector walked all of it; here an entry is seven numbers
 * in two arrays and nothing is allocated per event.
 *
 * `parts` tables, each open addressing with linear probing, at most half full, a key's table
 * chosen by the top bits of its hash. With one table, growing it rehashed the whole backlog at
 * once on the store thread: 0.2 s at a million slots and 0.4 s at two million (measured under
 * the ingest bench), every request in flight waiting. The ingest log's index uses 64 tables, so
 * one grows at a time, each a 64th of the work. Deletion shifts the entries behind back (no
 * tombstones), so lookups stay short however many keys come and go. Keys are read from a byte
 * array at an offset, so a batch's keys are never copied out one by one.
 */
export class PendingKeys {
  private readonly tables: KeyTable[];
  /** A hash's table: `(h >>> shift) & partMask`, its top bits (0 with one table). */
  private readonly shift: number;
  private readonly partMask: number;

  /** `minSlots` per table, a power of two; `parts`, the number of tables, a power of two. */
  constructor(minSlots = MIN_SLOTS, parts = 1) {
    if (!Number.isInteger(Math.log2(parts)) || parts > 1024)
      throw new RangeError('parts must be a power of two up to 1024');
    this.tables = Array.from({ length: parts }, () => new KeyTable(minSlots));
    this.shift = 32 - Math.log2(parts);
    this.partMask = parts - 1;
  }

  get size(): number {
    let n = 0;
    for (const t of this.tables) n += t.count;
    return n;
  }

  /** The id stored for the key at `keys[at, at + 16)`, or 0. */
  get(pk: number, keys: Uint8Array, at: number): number {
    const h = hashOf(pk, keys, at);
    return this.tableOf(h).get(pk, keys, at, h);
  }

  /** Stores `id` (≥ 1) for the key; true when the key was not there before. */
  set(pk: number, keys: Uint8Array, at: number, id: number): boolean {
    const h = hashOf(pk, keys, at);
    return this.tableOf(h).set(pk, keys, at, id, h);
  }

  /** Removes the key if it maps to `id` (a newer log row may hold it since); true if removed. */
  deleteIf(pk: number, keys: Uint8Array, at: number, id: number): boolean {
    const h = hashOf(pk, keys, at);
    return this.tableOf(h).deleteIf(pk, keys, at, id, h);
  }

  /**
   * Empties the map (a group commit's scratch set, once per group). A table keeps its size
   * unless one huge call grew it: then every later group would pay for zeroing the large array.
   */
  clear(): void {
    for (const t of this.tables) t.clear();
  }

  private tableOf(h: number): KeyTable {
    // With one table the shift is 32, which JavaScript takes as 0; the mask makes it table 0.
    return this.tables[(h >>> this.shift) & this.partMask]!;
  }
}

/** One open-addressing table of `PendingKeys`; the caller passes each key's hash. */
class KeyTable {
  private slots: Int32Array;
  /** Log id per slot; 0 marks an empty slot (log ids start at 1). */
  private ids: Float64Array;
  private mask: number;
  count = 0;

  constructor(private readonly minSlots: number) {
    this.slots = new Int32Array(minSlots * STRIDE);
    this.ids = new Float64Array(minSlots);
    this.mask = minSlots - 1;
  }

  get(pk: number, keys: Uint8Array, at: number, h: number): number {
    const slot = this.find(pk, keys, at, h);
    return slot < 0 ? 0 : this.ids[slot]!;
  }

  set(pk: number, keys: Uint8Array, at: number, id: number, h: number): boolean {
    const found = this.find(pk, keys, at, h);
    if (found >= 0) {
      this.ids[found] = id;
      return false;
    }
    if ((this.count + 1) * 2 > this.ids.length) this.resize(this.ids.length * 2);
    let i = h & this.mask;
    while (this.ids[i] !== 0) i = (i + 1) & this.mask;
    const o = i * STRIDE;
    this.slots[o] = h;
    this.slots[o + 1] = pk;
    this.slots[o + 2] = word(keys, at);
    this.slots[o + 3] = word(keys, at + 4);
    this.slots[o + 4] = word(keys, at + 8);
    this.slots[o + 5] = word(keys, at + 12);
    this.ids[i] = id;
    this.count++;
    return true;
  }

  deleteIf(pk: number, keys: Uint8Array, at: number, id: number, h: number): boolean {
    const slot = this.find(pk, keys, at, h);
    if (slot < 0 || this.ids[slot] !== id) return false;
    this.removeAt(slot);
    if (this.count * 8 < this.ids.length && this.ids.length > this.minSlots) {
      this.resize(this.ids.length / 2);
    }
    return true;
  }

  clear(): void {
    if (this.ids.length > CLEAR_KEEPS_SLOTS) {
      this.slots = new Int32Array(this.minSlots * STRIDE);
      this.ids = new Float64Array(this.minSlots);
      this.mask = this.minSlots - 1;
    } else if (this.count > 0) {
      this.ids.fill(0);
    }
    this.count = 0;
  }

  private find(pk: number, keys: Uint8Array, at: number, h: number): number {
    const s = this.slots;
    const w0 = word(keys, at);
    for (let i = h & this.mask; this.ids[i] !== 0; i = (i + 1) & this.mask) {
      const o = i * STRIDE;
      if (
        s[o] === h &&
        s[o + 1] === pk &&
        s[o + 2] === w0 &&
        s[o + 3] === word(keys, at + 4) &&
        s[o + 4] === word(keys, at + 8) &&
        s[o + 5] === word(keys, at + 12)
      ) {
        return i;
      }
    }
    return -1;
  }

  /** Backward-shift deletion: entries after the gap whose home is not between move into it. */
  private removeAt(slot: number): void {
    const s = this.slots;
    let gap = slot;
    for (let j = (gap + 1) & this.mask; this.ids[j] !== 0; j = (j + 1) & this.mask) {
      const home = s[j * STRIDE]! & this.mask;
      // The entry at j may fill the gap unless its home lies cyclically in (gap, j].
      const stays = gap <= j ? home > gap && home <= j : home > gap || home <= j;
      if (stays) continue;
      s.copyWithin(gap * STRIDE, j * STRIDE, j * STRIDE + STRIDE);
      this.ids[gap] = this.ids[j]!;
      gap = j;
    }
    this.ids[gap] = 0;
    this.count--;
  }

  private resize(n: number): void {
    const oldSlots = this.slots;
    const oldIds = this.ids;
    this.slots = new Int32Array(n * STRIDE);
    this.ids = new Float64Array(n);
    this.mask = n - 1;
    for (let j = 0; j < oldIds.length; j++) {
      if (oldIds[j] === 0) continue;
      let i = oldSlots[j * STRIDE]! & this.mask;
      while (this.ids[i] !== 0) i = (i + 1) & this.mask;
      for (let k = 0; k < STRIDE; k++) this.slots[i * STRIDE + k] = oldSlots[j * STRIDE + k]!;
      this.ids[i] = oldIds[j]!;
    }
  }
}

function word(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

function hashOf(pk: number, keys: Uint8Array, at: number): number {
  let h = mix(word(keys, at) ^ Math.imul(pk, 0x9e3779b1));
  h = mix(h ^ word(keys, at + 4));
  h = mix(h ^ word(keys, at + 8));
  return mix(h ^ word(keys, at + 12));
}
