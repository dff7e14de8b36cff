import type { OutboxRecord } from '../outbox.js';
import type { UnloadSpill } from './unloadSpill.js';
import type { Pending, WriteBuffer } from './WriteBuffer.js';

/**
 * The IndexedDB outbox's records not written yet, kept safe in the unload spill
 * (`unloadSpill.ts`) while the page is hidden or goes away, and taken back from it by the next
 * outbox of that name when the page died first.
 */
export class UnwrittenSpill {
  /** A write of what the spill saved is under way (see `writeSpilled`). */
  private spillWrite = false;
  /** Keys of the records taken back from an unload spill, removed once those are written. */
  private readonly spilledKeys: string[] = [];

  constructor(
    private readonly spill: UnloadSpill,
    private readonly buffer: WriteBuffer,
    /** Whether the page is hidden or going away now (see `PageHide`). */
    private readonly hidden: () => boolean,
    /** Records the storage had no room for (`HeldInMemory`), oldest first: saved with the rest. */
    private readonly held: () => OutboxRecord[] = () => [],
  ) {}

  /**
   * Takes back what earlier pages saved (`append` queues it); their keys go once those records
   * are written.
   */
  takeBack(append: (records: readonly OutboxRecord[]) => void): void {
    const spilled = this.spill.load();
    this.spilledKeys.push(...spilled.keys);
    if (spilled.records.length > 0) {
      append(spilled.records);
      void this.buffer.flush().then(
        () => this.spill.remove(this.spilledKeys.splice(0)),
        () => undefined,
      );
    }
  }

  /** The records taken back were handed over with the rest: the next storage keeps them now. */
  forgetTakenBack(): void {
    this.spill.remove(this.spilledKeys.splice(0));
  }

  /**
   * The page is hidden or goes away: what is not written yet is saved to localStorage at once (a
   * write begun now may never commit), then written; once it is, the saved copy goes.
   */
  saveUnwritten(): void {
    this.spill.save(this.held().concat(this.buffer.unwritten().map((p) => p.record)));
    this.writeSpilled();
  }

  /** Appended while the page is hidden: saved beside the rest at once, then written. */
  saveAppended(accepted: readonly Pending[]): void {
    this.spill.add(accepted.map((p) => p.record));
    this.writeSpilled();
  }

  /**
   * Writes what is saved in the spill and then removes the saved copy, or, when a hidden page
   * appended more meanwhile, saves only what is still unwritten and writes again. A page shown
   * again needs no copy: it saves anew when it is next hidden.
   */
  private writeSpilled(): void {
    if (this.spillWrite) return;
    this.spillWrite = true;
    void this.buffer.flush().then(
      () => {
        this.spillWrite = false;
        const rest = this.buffer.unwritten();
        // Held in memory, not written (the origin is full): they stay saved while the page is hidden.
        const held = this.held();
        if ((rest.length === 0 && held.length === 0) || !this.hidden()) {
          this.spill.clear();
          return;
        }
        this.spill.save(held.concat(rest.map((p) => p.record)));
        // Only what was appended meanwhile: the held records are not tried again here.
        if (rest.length > 0) this.writeSpilled();
      },
      () => {
        // Kept saved: the write is tried again later, and a next load takes them back.
        this.spillWrite = false;
      },
    );
  }
}
