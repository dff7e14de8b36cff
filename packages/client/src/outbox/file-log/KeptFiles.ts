import type { Logger } from '../../logger.js';

/** Failures of a write that pass: tried again after the next group lands. */
const PASSING_FAILURES = new Set(['EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'EAGAIN', 'EBUSY', 'EINTR']);

/**
 * The files kept beside the queue: `outbox.json`, written here, and what the client keeps there
 * too (the install id), written by `onLost` listeners. Written again when the directory lost them
 * or never got them: `outbox.json` could not be written at open (no file descriptor free, a full
 * disk: `lost`, then `writeAgain` once the next group lands, not polled for), or the directory,
 * deleted while the app ran, was made again by the next write of a segment or of the state
 * (`writeAgain` at once). Before, the next run was a new anonymous user, and tools used their
 * default limits.
 */
export class KeptFiles {
  /** Not in the directory: written again once a group lands (see `writeAgain`). */
  lost = false;
  private readonly listeners = new Set<() => void>();
  /** The writing again under way (a close waits for it). */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      /** Writes `outbox.json`; null for an outbox that saves no limits. */
      readonly save: (() => Promise<void>) | null;
      readonly logger: Logger;
    },
  ) {}

  /** Writes `outbox.json` again and tells the listeners, one such write after another. */
  writeAgain(): void {
    this.lost = false;
    this.writing = this.writing.then(async () => {
      if (this.o.save !== null) {
        try {
          await this.o.save();
        } catch (error) {
          // Still failing for a reason that passes: tried again after the next group. Not for
          // any other (a directory there that will not move): each group would try it again.
          const code = (error as NodeJS.ErrnoException).code ?? '';
          if (PASSING_FAILURES.has(code)) this.lost = true;
          this.o.logger.debug('outbox: could not save its limits for tools (outbox.json)', {
            error: String(error),
          });
        }
      }
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch {
          // One broken listener must not stop the others or the outbox.
        }
      }
    });
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
