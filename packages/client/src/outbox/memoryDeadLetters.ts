import type { DeadLetter } from './outbox.js';
import { utf8Length } from './records.js';
import { RingDeque } from './RingDeque.js';

/**
 * The dead letters of the memory outbox: oldest first, at most `maxDeadLetters` and
 * `maxDeadLetterBytes` of event JSON and reasons (the oldest are discarded past either; `add`
 * says how many, for the outbox to count them as overflow).
 */
export class MemoryDeadLetters {
  private readonly letters = new RingDeque<{ readonly dl: DeadLetter; readonly bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxDeadLetters: number,
    private readonly maxDeadLetterBytes: number,
  ) {}

  get length(): number {
    return this.letters.length;
  }

  /**
   * Answers how many of the oldest dead letters were discarded to stay within the caps, and the
   * bytes of their event JSON.
   */
  add(dl: DeadLetter): { discarded: number; bytes: number } {
    const bytes = utf8Length(dl.record.json) + utf8Length(dl.reason);
    this.letters.push({ dl, bytes });
    this.bytes += bytes;
    let discarded = 0;
    let discardedBytes = 0;
    while (this.letters.length > this.maxDeadLetters || this.bytes > this.maxDeadLetterBytes) {
      const oldest = this.letters.shift()!;
      this.bytes -= oldest.bytes;
      discarded++;
      discardedBytes += utf8Length(oldest.dl.record.json);
    }
    return { discarded, bytes: discardedBytes };
  }

  list(max: number): DeadLetter[] {
    const out: DeadLetter[] = [];
    for (const { dl } of this.letters) {
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
    this.letters.retain(({ dl, bytes }) => {
      if (wanted !== null && !wanted.has(dl.record.uuid)) return true;
      if (!use(dl)) return true;
      taken++;
      this.bytes -= bytes;
      return false;
    });
    return taken;
  }
}
