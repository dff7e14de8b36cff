import type { DeadLetter, OutboxRecord } from '../outbox.js';
import type { StorageLike } from '../localStorage.js';
import { utf8Length } from '../records.js';

/**
 * The dead letters of the localStorage outbox: one key holding a JSON array, oldest first,
 * at most `maxDeadLetters` and `maxDeadLetterBytes` of event JSON and reasons. Rewritten whole
 * on each change: dead letters are rare and few.
 */
export class DeadLetterList {
  constructor(
    private readonly storage: StorageLike,
    private readonly key: string,
    private readonly maxDeadLetters: number,
    private readonly maxDeadLetterBytes: number,
  ) {}

  /** Damaged entries (or a damaged key) read as nothing: they could never be replayed. */
  read(): DeadLetter[] {
    let value: unknown;
    try {
      value = JSON.parse(this.storage.getItem(this.key) ?? '[]');
    } catch {
      return [];
    }
    if (!Array.isArray(value)) return [];
    const out: DeadLetter[] = [];
    for (const item of value) {
      if (!Array.isArray(item)) continue;
      const [uuid, json, timestampMs, reason, at] = item as unknown[];
      if (typeof uuid !== 'string' || typeof json !== 'string' || typeof timestampMs !== 'number') continue;
      if (typeof reason !== 'string' || typeof at !== 'number') continue;
      out.push({ record: { uuid, json, timestampMs }, reason, deadLetteredAtMs: at });
    }
    return out;
  }

  /**
   * Throws the storage's error (full, blocked) and then stores nothing. Answers how many records
   * it added (`added`), and how many of the oldest dead letters were discarded to stay within
   * the caps, and the bytes of their event JSON.
   *
   * A record whose uuid the list holds already is not added again. The move to the dead letters
   * is two writes (this key, then the chunks the records leave), with no transaction between
   * them: a page that died between the two, or a chunk write that failed, left the records
   * pending, and the next holder claimed and dead-lettered them again; a tab frozen past its lease
   * dead-lettered the batch the tab that took over had dead-lettered already. Either way they were
   * listed, and replayed, twice.
   */
  add(
    records: readonly OutboxRecord[],
    reason: string,
    atMs: number,
  ): { added: number; discarded: number; bytes: number } {
    const all = this.read();
    const here = new Set(all.map((dl) => dl.record.uuid));
    let added = 0;
    for (const record of records) {
      if (here.has(record.uuid)) continue;
      here.add(record.uuid);
      all.push({ record, reason, deadLetteredAtMs: atMs });
      added++;
    }
    if (added === 0) return { added, discarded: 0, bytes: 0 };
    const sizes = all.map((dl) => utf8Length(dl.record.json) + utf8Length(dl.reason));
    let total = sizes.reduce((n, size) => n + size, 0);
    let discarded = 0;
    let bytes = 0;
    while (
      discarded < all.length &&
      (all.length - discarded > this.maxDeadLetters || total > this.maxDeadLetterBytes)
    ) {
      total -= sizes[discarded]!;
      bytes += utf8Length(all[discarded]!.record.json);
      discarded++;
    }
    this.write(all.slice(discarded));
    return { added, discarded, bytes };
  }

  /**
   * Takes the dead letters with these uuids (all when undefined): `use` (by default, all of them)
   * answers which of them it used, and only those are removed and answered. A replay keeps so
   * the ones the queue did not take.
   */
  take(
    uuids: readonly string[] | undefined,
    use: (chosen: DeadLetter[]) => ReadonlySet<DeadLetter> = (chosen) => new Set(chosen),
  ): DeadLetter[] {
    const wanted = uuids === undefined ? null : new Set(Array.isArray(uuids) ? uuids : []);
    const all = this.read();
    const chosen = all.filter((dl) => wanted === null || wanted.has(dl.record.uuid));
    if (chosen.length === 0) return [];
    const used = use(chosen);
    if (used.size > 0) this.write(all.filter((dl) => !used.has(dl)));
    return chosen.filter((dl) => used.has(dl));
  }

  private write(letters: readonly DeadLetter[]): void {
    if (letters.length === 0) {
      this.storage.removeItem(this.key);
      return;
    }
    this.storage.setItem(
      this.key,
      JSON.stringify(
        letters.map((dl) => [
          dl.record.uuid,
          dl.record.json,
          dl.record.timestampMs,
          dl.reason,
          dl.deadLetteredAtMs,
        ]),
      ),
    );
  }
}
