/**
 * The short strings the pattern pass last found nothing in, so the next event carrying the same
 * value (a command name, a version, a region: most property values repeat) skips the profile
 * and pattern checks. Only verdicts of "no PII" are kept, so nothing this holds is a secret the
 * pass would have removed.
 *
 * Bounded by entries and by string length; when full it starts over rather than evicting one by
 * one, so a stream of unique values (ids, timestamps) costs one `Set.add` each and never more
 * than `maxEntries` strings of memory, and the values that do repeat are back after one event.
 */
export class CleanStringMemo {
  private readonly clean = new Set<string>();

  constructor(
    private readonly maxEntries = 2_048,
    readonly maxLength = 96,
  ) {}

  /** true when `s` was found clean lately. */
  has(s: string): boolean {
    return s.length <= this.maxLength && this.clean.has(s);
  }

  /** Remembers that the pattern pass found nothing in `s` (ignored when `s` is too long). */
  add(s: string): void {
    if (s.length > this.maxLength) return;
    if (this.clean.size >= this.maxEntries) this.clean.clear();
    this.clean.add(s);
  }

  get size(): number {
    return this.clean.size;
  }
}
