import { keyHash, keyHashOfWords, word } from './sqlite-key-hash.js';

const SLOT = 2; // per table slot: the key's hash (0 marks an empty slot), its seq (low 32 bits)
const ENTRY = 5; // per ring entry: project pk, the key's four 32-bit words
const MIN_SLOTS = 1024;
const MIN_RING = 4096;
/** Keys forgotten per first pass (see forgetBefore). */
const FIRST_PASS_KEYS = 128;

interface KeyTable {
  slots: Int32Array;
  mask: number;
  count: number;
}

/**
 * The set of (project pk, 16-byte event key) pairs of the ingest log's rows not yet expanded,
 * in typed arrays, kept in the order the keys came (first in, first forgotten, as the log is
 * expanded). Every key gets a sequence number (seq) as it is added; a log row's keys are the
 * seqs added before `end` at the time it was written, and forgetting the row forgets those.
 *
 * The keys themselves are in a ring, in seq order; the hash tables hold only each key's hash
 * and seq, 8 bytes a slot. With the whole key and a log id in each slot (32 bytes in two
 * arrays), every lookup, insertion and deletion under the ingest bench missed the cache twice,
 * growing the tables with the backlog cost a page fault per 4 KiB of fresh memory (about 8 µs
 * each on the reference machine), and the store thread spent 0.6-1.2 µs an event in the index. A
 * slot is compared with the key in the ring only when the hashes match: a duplicate, or a
 * 2^-26 chance.
 *
 * `parts` tables, each open addressing with linear probing, at most half full, a key's table
 * chosen by the top bits of its hash: with one table, growing it rehashed the whole backlog at
 * once on the store thread (0.2 s at a million slots under the ingest bench, every request in
 * flight waiting); the ingest log's index uses 64, so one grows at a time. Deletion shifts the
 * entries behind back (no tombstones), so lookups stay short however many keys come and go.
 * Keys are read from a byte array at an offset, so a batch's keys are never copied one by one.
 */
export class PendingKeys {
  private readonly tables: KeyTable[];
  /** A hash's table: `(h >>> shift) & partMask`, its top bits (0 with one table). */
  private readonly shift: number;
  private readonly partMask: number;
  private readonly minSlots: number;
  /** Seq s's key is at `(s & ringMask) * ENTRY`, for head ≤ s < tail. */
  private ring = new Int32Array(MIN_RING * ENTRY);
  private ringMask = MIN_RING - 1;
  private head = 0;
  private tail = 0;
  private count = 0;
  /** addAll's hashes of a batch (scratch). */
  private hashes = new Int32Array(128);
  /** What the first passes of addAll and forgetBefore read, kept so the reads are not dropped. */
  private warmth = 0;

  /** `minSlots` per table, a power of two; `parts`, the number of tables, a power of two. */
  constructor(minSlots = MIN_SLOTS, parts = 1) {
    if (!Number.isInteger(Math.log2(parts)) || parts > 1024)
      throw new RangeError('parts must be a power of two up to 1024');
    if (!Number.isInteger(Math.log2(minSlots)) || minSlots < 2)
      throw new RangeError('minSlots must be a power of two of at least 2');
    this.minSlots = minSlots;
    this.tables = Array.from({ length: parts }, () => ({
      slots: new Int32Array(minSlots * SLOT),
      mask: minSlots - 1,
      count: 0,
    }));
    this.shift = 32 - Math.log2(parts);
    this.partMask = parts - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.count;
  }

  /** The seq the next key added gets: the keys added so far are those before it. */
  get end(): number {
    return this.tail;
  }

  /** Whether the key at `keys[at, at + 16)` is held. */
  has(pk: number, keys: Uint8Array, at: number): boolean {
    const h = hashOf(pk, keys, at);
    return this.find(this.tableOf(h), h, pk, keys, at) >= 0;
  }

  /**
   * Adds each of the `n` keys at `keys[0, 16 n)` unless it is held (also by an earlier key of
   * the batch), and pushes the index of every key added onto `added`. In two passes: the first
   * hashes every key and reads its home slot, reads that do not depend on each other, so the
   * CPU overlaps their cache misses, where adding key by key waits for each (about 120-180 ns
   * a key with a large backlog on the reference machine); the second adds them.
   */
  addAll(pk: number, keys: Uint8Array, n: number, added: number[]): void {
    if (this.hashes.length < n) this.hashes = new Int32Array(n);
    const hashes = this.hashes;
    let x = 0;
    for (let k = 0; k < n; k++) {
      const h = hashOf(pk, keys, k * 16);
      hashes[k] = h;
      const t = this.tableOf(h);
      x ^= t.slots[(h & t.mask) * SLOT]!;
    }
    this.warmth = x;
    for (let k = 0; k < n; k++) if (this.addHashed(hashes[k]!, pk, keys, k * 16)) added.push(k);
  }

  /** Adds the key (with the next seq) unless it is held; true when it was added. */
  add(pk: number, keys: Uint8Array, at: number): boolean {
    return this.addHashed(hashOf(pk, keys, at), pk, keys, at);
  }

  /**
   * Adds the key with the next seq, or moves it there if it is held: a newer log row holds it
   * now, and forgetting the older row must leave it.
   */
  put(pk: number, keys: Uint8Array, at: number): void {
    const h = hashOf(pk, keys, at);
    const t = this.tableOf(h);
    const found = this.find(t, h, pk, keys, at);
    if (found >= 0) t.slots[found * SLOT + 1] = this.push(pk, keys, at);
    else this.add(pk, keys, at);
  }

  /** Removes the key whatever its seq; true when it was held. */
  remove(pk: number, keys: Uint8Array, at: number): boolean {
    const h = hashOf(pk, keys, at);
    const t = this.tableOf(h);
    const found = this.find(t, h, pk, keys, at);
    if (found < 0) return false;
    this.removeAt(t, found);
    return true;
  }

  /** Forgets the keys added before seq `end`, except those `put` again since. */
  forgetBefore(end: number): void {
    if (end > this.tail) throw new RangeError('forgetBefore past the last key added');
    for (let from = this.head; from < end; from += FIRST_PASS_KEYS) {
      const to = Math.min(end, from + FIRST_PASS_KEYS);
      this.readSlotsOf(from, to);
      for (let s = from; s < to; s++) this.removeSeq(s);
    }
    if (end > this.head) this.head = end;
    if ((this.tail - this.head) * 8 < this.ringMask + 1 && this.ringMask + 1 > MIN_RING) {
      this.resizeRing((this.ringMask + 1) / 2);
    }
  }

  /**
   * Takes back every key added at seq `end` or later (a group commit that rolled back). A key
   * `put` at such a seq leaves too, though an older row held it before: callers roll back adds.
   */
  rollBack(end: number): void {
    if (end < this.head) throw new RangeError('rollBack before the oldest key held');
    for (let s = this.tail - 1; s >= end; s--) this.removeSeq(s);
    if (end < this.tail) this.tail = end;
  }

  private addHashed(h: number, pk: number, keys: Uint8Array, at: number): boolean {
    const t = this.tableOf(h);
    if ((t.count + 1) * 2 > t.mask + 1) this.resize(t, (t.mask + 1) * 2);
    const found = this.find(t, h, pk, keys, at);
    if (found >= 0) return false;
    const i = ~found;
    t.slots[i * SLOT] = h;
    t.slots[i * SLOT + 1] = this.push(pk, keys, at);
    t.count++;
    this.count++;
    return true;
  }

  private tableOf(h: number): KeyTable {
    // With one table the shift is 32, which JavaScript takes as 0; the mask makes it table 0.
    return this.tables[(h >>> this.shift) & this.partMask]!;
  }

  /** The key's slot, or `~slot` of the empty slot where it would go. */
  private find(t: KeyTable, h: number, pk: number, keys: Uint8Array, at: number): number {
    const s = t.slots;
    const mask = t.mask;
    let i = h & mask;
    for (; s[i * SLOT] !== 0; i = (i + 1) & mask) {
      if (s[i * SLOT] !== h) continue;
      const e = (s[i * SLOT + 1]! & this.ringMask) * ENTRY;
      const r = this.ring;
      if (
        r[e] === pk &&
        r[e + 1] === word(keys, at) &&
        r[e + 2] === word(keys, at + 4) &&
        r[e + 3] === word(keys, at + 8) &&
        r[e + 4] === word(keys, at + 12)
      ) {
        return i;
      }
    }
    return ~i;
  }

  /** Writes the key at the ring's tail; answers its seq's low 32 bits, as the tables keep it. */
  private push(pk: number, keys: Uint8Array, at: number): number {
    if (this.tail - this.head > this.ringMask) this.resizeRing((this.ringMask + 1) * 2);
    const s = this.tail++;
    const e = (s & this.ringMask) * ENTRY;
    const r = this.ring;
    r[e] = pk;
    r[e + 1] = word(keys, at);
    r[e + 2] = word(keys, at + 4);
    r[e + 3] = word(keys, at + 8);
    r[e + 4] = word(keys, at + 12);
    return s | 0;
  }

  /** Reads the slot of each key of seqs [from, to), as addAll's first pass does. */
  private readSlotsOf(from: number, to: number): void {
    const r = this.ring;
    let x = 0;
    for (let s = from; s < to; s++) {
      const e = (s & this.ringMask) * ENTRY;
      const h = hashWords(r[e]!, r[e + 1]!, r[e + 2]!, r[e + 3]!, r[e + 4]!);
      const t = this.tableOf(h);
      x ^= t.slots[(h & t.mask) * SLOT]!;
    }
    this.warmth = x;
  }

  /** Removes the key of seq `s` if its slot still names `s` (it may have been moved or removed). */
  private removeSeq(s: number): void {
    const e = (s & this.ringMask) * ENTRY;
    const r = this.ring;
    const h = hashWords(r[e]!, r[e + 1]!, r[e + 2]!, r[e + 3]!, r[e + 4]!);
    const t = this.tableOf(h);
    const slots = t.slots;
    const seq = s | 0;
    for (let i = h & t.mask; slots[i * SLOT] !== 0; i = (i + 1) & t.mask) {
      if (slots[i * SLOT] === h && slots[i * SLOT + 1] === seq) {
        this.removeAt(t, i);
        return;
      }
    }
  }

  /** Backward-shift deletion: entries after the gap whose home is not between move into it. */
  private removeAt(t: KeyTable, slot: number): void {
    const s = t.slots;
    const mask = t.mask;
    let gap = slot;
    for (let j = (gap + 1) & mask; s[j * SLOT] !== 0; j = (j + 1) & mask) {
      const home = s[j * SLOT]! & mask;
      // The entry at j may fill the gap unless its home lies cyclically in (gap, j].
      const stays = gap <= j ? home > gap && home <= j : home > gap || home <= j;
      if (stays) continue;
      s[gap * SLOT] = s[j * SLOT]!;
      s[gap * SLOT + 1] = s[j * SLOT + 1]!;
      gap = j;
    }
    s[gap * SLOT] = 0;
    t.count--;
    this.count--;
    if (t.count * 8 < t.mask + 1 && t.mask + 1 > this.minSlots) this.resize(t, (t.mask + 1) / 2);
  }

  private resize(t: KeyTable, n: number): void {
    const old = t.slots;
    const slots = new Int32Array(n * SLOT);
    const mask = n - 1;
    for (let j = 0; j < old.length; j += SLOT) {
      const h = old[j]!;
      if (h === 0) continue;
      let i = h & mask;
      while (slots[i * SLOT] !== 0) i = (i + 1) & mask;
      slots[i * SLOT] = h;
      slots[i * SLOT + 1] = old[j + 1]!;
    }
    t.slots = slots;
    t.mask = mask;
  }

  private resizeRing(n: number): void {
    const old = this.ring;
    const oldMask = this.ringMask;
    const ring = new Int32Array(n * ENTRY);
    const mask = n - 1;
    // Runs of seqs that lie in one piece in both rings, copied as blocks.
    for (let s = this.head; s < this.tail;) {
      const from = s & oldMask;
      const run = Math.min(this.tail - s, oldMask + 1 - from, mask + 1 - (s & mask));
      ring.set(old.subarray(from * ENTRY, (from + run) * ENTRY), (s & mask) * ENTRY);
      s += run;
    }
    this.ring = ring;
    this.ringMask = mask;
  }
}

/** The key's hash, never 0 (which marks an empty slot). */
function hashOf(pk: number, keys: Uint8Array, at: number): number {
  return nonZero(keyHash(pk, keys, at));
}

/** `hashOf` for a key in the ring, as its four words. */
function hashWords(pk: number, w0: number, w1: number, w2: number, w3: number): number {
  return nonZero(keyHashOfWords(pk, w0, w1, w2, w3));
}

function nonZero(h: number): number {
  return h === 0 ? 1 : h;
}
