import { promises as fs } from 'node:fs';
import { writeFileAtomic, writeFileAtomicSync } from './atomicFile.js';
import { IntervalSet } from './IntervalSet.js';
import { inTheWayName, moveAsideIfNotAFile, moveAsideIfNotAFileSync, NotOurFileError } from './notOurs.js';
import { ownFileText } from './ownFileText.js';

/**
 * `cursor.json`: which byte ranges of which segments are gone (acked, dropped, damaged). Only
 * the delivery lock holder writes it, always whole and by rename (temp file + rename), so a
 * reader sees the old cursor or the new one. Writes that would not change it are skipped, and
 * calls that overlap share one write.
 */
export class CursorFile {
  private running: Promise<void> | null = null;
  /** Calls to `save` so far, and how many of them a finished write covered. */
  private requested = 0;
  private completed = 0;
  private lastWritten: string | null = null;
  /** The last read found no file of ours there (a FIFO, a socket, a link): moved aside before the next write. */
  private inTheWay = false;

  constructor(
    private readonly file: string,
    private readonly options: {
      fsync: boolean;
      /** Something not ours was moved aside from the cursor's place (`what`: 'a FIFO', ...). */
      onMovedAside?: (file: string, what: string) => void;
    },
  ) {}

  /** The gone ranges per segment base name; a missing or broken cursor reads as empty. */
  async read(): Promise<Map<string, IntervalSet>> {
    const map = new Map<string, IntervalSet>();
    let text: string | undefined;
    try {
      text = await ownFileText(this.file);
    } catch (error) {
      // No file of ours in its place (a directory, a FIFO, a socket, a link): outside damage,
      // read as nothing acked (below), and moved aside before the next save. Any other failure
      // (EIO, EACCES) is passed on: the next try may read it.
      if (!(error instanceof NotOurFileError)) throw error;
      this.inTheWay = true;
    }
    if (text === undefined) return map;
    try {
      const parsed = JSON.parse(text) as { removed?: Record<string, unknown> };
      for (const [base, ranges] of Object.entries(parsed.removed ?? {}))
        map.set(base, IntervalSet.fromJSON(ranges));
      this.lastWritten = text;
    } catch {
      // Only outside damage can break a file replaced by rename. Reading it as "nothing acked"
      // sends some events again (the uuid dedups them) and loses none.
    }
    return map;
  }

  /** Changes whenever the file is replaced; lets readers that do not hold the lock notice. */
  async signature(): Promise<string> {
    try {
      const st = await fs.stat(this.file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  }

  /**
   * Writes what `snapshot` answers at write time. Resolves after a write that started after
   * this call (so it includes the caller's changes), or at once when nothing changed.
   */
  async save(snapshot: () => Record<string, number[]>): Promise<void> {
    const mine = ++this.requested;
    while (this.completed < mine) {
      if (this.running === null) {
        const run = this.writeOnce(snapshot);
        this.running = run;
        // Cleared by a callback, never inline: a write that finishes without awaiting must not
        // clear `running` before it was even set.
        const clear = (): void => {
          if (this.running === run) this.running = null;
        };
        run.then(clear, clear);
      }
      await this.running;
    }
  }

  /**
   * `save`, synchronously, for a process that ends in this turn: whatever a write under way
   * would have stored, this stores the newer snapshot (if that write lands after it, the older
   * cursor only sends some events again). Throws what the file system throws.
   */
  saveSync(snapshot: () => Record<string, number[]>): void {
    const text = JSON.stringify({ v: 1, removed: snapshot() });
    if (text === this.lastWritten) return;
    // As `writeOnce`: only what is no file of ours is moved aside, and said; a cursor written
    // there since the read (a file) is replaced by the rename, not moved aside beside it.
    if (this.inTheWay) {
      this.inTheWay = false;
      let moved: string | undefined;
      try {
        moved = moveAsideIfNotAFileSync(this.file);
      } catch {
        // Not movable: the write below says what matters.
      }
      if (moved !== undefined) this.options.onMovedAside?.(this.file, moved);
    }
    try {
      writeFileAtomicSync(this.file, text, this.options);
    } catch (error) {
      // A directory in the cursor's place refuses the write: moved aside, then written again.
      const moved = moveAsideIfNotAFileSync(this.file);
      if (moved === undefined) throw error;
      this.options.onMovedAside?.(this.file, moved);
      writeFileAtomicSync(this.file, text, this.options);
    }
    this.lastWritten = text;
  }

  private async isDirectory(): Promise<boolean> {
    return fs.stat(this.file).then(
      (st) => st.isDirectory(),
      () => false,
    );
  }

  private async writeOnce(snapshot: () => Record<string, number[]>): Promise<void> {
    const generation = this.requested;
    const text = JSON.stringify({ v: 1, removed: snapshot() });
    if (text !== this.lastWritten) {
      // Replaced by the rename, it would be gone: it is not ours to delete.
      if (this.inTheWay) {
        const moved = await moveAsideIfNotAFile(this.file);
        this.inTheWay = false;
        if (moved !== undefined) this.options.onMovedAside?.(this.file, moved);
      }
      try {
        await writeFileAtomic(this.file, text, this.options);
      } catch (error) {
        // A directory in the cursor's place would refuse every save, so no ack would ever be
        // stored: moved aside (never deleted: it is not ours), then written again.
        if (!(await this.isDirectory())) throw error;
        await fs.rename(this.file, inTheWayName(this.file));
        await writeFileAtomic(this.file, text, this.options);
      }
      this.lastWritten = text;
    }
    this.completed = Math.max(this.completed, generation);
  }
}
