import type { Logger } from '../../logger.js';

/** Failures of a write that pass: tried again after the next group lands. */
const PASSING_FAILURES = new Set(['EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'EAGAIN', 'EBUSY', 'EINTR']);

/** How long after a write of `outbox.json` failed for a reason that passes it is not tried again. */
export const KEPT_FILES_RETRY_AFTER_MS = 1_000;

/**
 * The files kept beside the queue: `outbox.json`, written here, and what the client keeps there
 * too (the install id), written by `onLost` listeners. Written again when the directory lost them
 * or never got them: `outbox.json` could not be written at open (no file descriptor free, a full
 * disk: `lost`, then `retry` once a group lands, at most once a second, not polled for), or the directory,
 * deleted while the app ran, was made again by whatever wrote there next (`onDirectoryMade`: a
 * segment, the state, a segment at exit, an identity): `writeAgain` at once, or `writeAgainNow`
 * in the same call when a synchronous write made it. Before, the next run was a new anonymous
 * user, and tools used their default limits.
 */
export class KeptFiles {
  /** Not in the directory: written again once a group lands (see `retry`). */
  lost = false;
  private readonly listeners = new Set<() => void>();
  /** The writing again under way (a close waits for it). */
  private writing: Promise<void> = Promise.resolve();
  /** When (`now`) a write failed for a reason that passes, if the last one did. */
  private failedAtMs: number | undefined;
  /** Inside `writeAgainNow` (its listeners' writes may make the directory again). */
  private writingNow = false;

  constructor(
    private readonly o: {
      /** Writes `outbox.json`; null for an outbox that saves no limits. */
      readonly save: (() => Promise<void>) | null;
      /** `save`, synchronously (see `writeAgainNow`). */
      readonly saveNow: (() => void) | null;
      readonly logger: Logger;
      /** A monotonic clock, in ms. */
      readonly now: () => number;
    },
  ) {}

  /** Writes `outbox.json` again and, once it is written, tells the listeners; one such write after another. */
  writeAgain(): void {
    this.lost = false;
    this.writing = this.writing.then(async () => {
      if (this.o.save !== null) {
        try {
          await this.o.save();
          this.failedAtMs = undefined;
        } catch (error) {
          return this.failed(error);
        }
      }
      this.tell();
    });
  }

  /**
   * `writeAgain`, all of it in this call: the directory was made again synchronously, by a write
   * at exit (a segment of the last events, an identity) after which no later turn comes, or in
   * the app's turn. A write made again inside the listeners' own writes is not followed again.
   */
  writeAgainNow(): void {
    if (this.writingNow) return;
    this.lost = false;
    this.writingNow = true;
    try {
      if (this.o.saveNow !== null) {
        try {
          this.o.saveNow();
          this.failedAtMs = undefined;
        } catch (error) {
          return this.failed(error);
        }
      }
      this.tell();
    } finally {
      this.writingNow = false;
    }
  }

  private failed(error: unknown): void {
    // Still failing for a reason that passes: tried again after a later group (`retry`).
    // Not for any other (a directory there that will not move): each group would try it
    // again. The listeners are not told: what they write there fails alike, and each
    // group made them try it (under lasting EMFILE, a write and a warning per group).
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (PASSING_FAILURES.has(code)) {
      this.lost = true;
      this.failedAtMs = this.o.now();
    }
    this.o.logger.debug('outbox: could not save its limits for tools (outbox.json)', {
      error: String(error),
    });
  }

  private tell(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // One broken listener must not stop the others or the outbox.
      }
    }
  }

  /**
   * A group landed: written again if lost, but not sooner than `KEPT_FILES_RETRY_AFTER_MS` after
   * the last write failed (a busy app lands many groups a second).
   */
  retry(): void {
    if (!this.lost) return;
    if (this.failedAtMs !== undefined && this.o.now() - this.failedAtMs < KEPT_FILES_RETRY_AFTER_MS) return;
    this.writeAgain();
  }

  /** See `Outbox.onKeptFilesLost`. */
  onLost(listener: () => void): () => void {
    const own = (): void => listener();
    this.listeners.add(own);
    return () => void this.listeners.delete(own);
  }

  /** Resolves once the writing again under way is done. */
  settled(): Promise<void> {
    return this.writing;
  }
}
