import type { DeadLetter } from './outbox.js';
import { RingDeque } from './RingDeque.js';

/**
 * The dead letters of the memory outbox: oldest first, at most `maxDeadLetters` (the oldest are
 * discarded past that; `add` says how many, for the outbox to count them as overflow).
 */
export class MemoryDeadLetters {
  private readonly letters = new RingDeque<DeadLetter>();

  constructor(private readonly maxDeadLetters: number) {}

  get length(): number {
    return this.letters.length;
  }

  /** Answers how many of the oldest dead letters were discarded to stay within `maxDeadLetters`. */
  add(dl: DeadLetter): number {
    this.letters.push(dl);
    let discarded = 0;
    while (this.letters.length > this.maxDeadLetters) {
      this.letters.shift();
      discarded++;
    }
    return discarded;
  }

  list(max: number): DeadLetter[] {
    const out: DeadLetter[] = [];
    for (const dl of this.letters) {
      if (out.length >= max) break;
      out.push(dl);
    }
    return out;
  }

  /**
   * Offers the dead letters with these uuids (all when undefined), oldest first, to `use`, and
   * removes those it took (by default, all). Answers how many were removed.
   */
  take(uuids: readonly string[] | undefined, use: (dl: DeadLetter) => boolean = () => true): number {
    const wanted = uuids === undefined ? null : new Set(Array.isArray(uuids) ? uuids : []);
    let taken = 0;
    this.letters.retain((dl) => {
      if (wanted !== null && !wanted.has(dl.record.uuid)) return true;
      if (!use(dl)) return true;
      taken++;
      return false;
    });
    return taken;
  }
}
