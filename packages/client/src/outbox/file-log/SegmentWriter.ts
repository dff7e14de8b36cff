import { promises as fs } from 'node:fs';
import type { Buffer } from 'node:buffer';
import path from 'node:path';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { fsyncDirectory } from './atomicFile.js';
import { makeDirectory } from './makeDirectory.js';
import { PRIVATE_FILE_MODE } from './privateModes.js';
import { OPEN_SUFFIX, SEALED_SUFFIX, newSegmentBase, parseSegmentFileName } from './segmentFiles.js';

/** Errors of `stat` that say a path no longer leads to the file it named. */
const PATH_GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

/**
 * Appends groups of encoded frames to this process's own segment (`<base>.open`), one write
 * per group, rolling to a new segment past `maxSegmentBytes`. No other process writes to it,
 * so appends from many processes never interleave. Sealing renames it to `<base>.log`: from
 * then on it never changes, so the delivering process may delete it once everything is acked.
 *
 * The caller serialises `write`, `seal` and `close` (one at a time).
 */
export interface SegmentWriterOptions {
  readonly directory: string;
  readonly maxSegmentBytes: number;
  /** fsync after each group (durability 'fsync'). */
  readonly fsync: boolean;
  /** Another process may adopt (seal) our segment if our heartbeat is older than this. */
  readonly staleMs: number;
}

export interface WrittenGroup {
  readonly base: string;
  /** Byte offset of the group in the segment. */
  readonly start: number;
  readonly end: number;
}

export class SegmentWriter {
  private handle: fs.FileHandle | null = null;
  private base: string | null = null;
  private size = 0;
  private lastCreatedMs = 0;
  /** When (monotonic) the segment was last written or its heartbeat refreshed. */
  private lastTouchMs = 0;
  private readonly monotonicNow = monotonicClock();
  /** The inode of the active segment: its name must still point at it. */
  private ino = 0;
  /**
   * Set by `heartbeat` when our `.open` file is gone: another process sealed it as abandoned, or
   * the directory was deleted or replaced.
   */
  private adopted = false;

  constructor(private readonly options: SegmentWriterOptions) {}

  /** The base name of the segment being written, or null between segments. */
  get activeBase(): string | null {
    return this.base;
  }

  /**
   * `onLanded` is called, with where they are, as soon as the bytes are in the segment, before
   * the datasync and the check that the segment is still ours: a process ending then (at exit)
   * must not write them again, and a reader may see them already (`size()` must not count them
   * twice).
   */
  async write(buffer: Buffer, onLanded?: (at: WrittenGroup) => void): Promise<WrittenGroup> {
    if (
      this.handle !== null &&
      (this.adopted || this.monotonicNow() - this.lastTouchMs > this.options.staleMs / 2)
    ) {
      // We may have been frozen long enough for another process to think us dead and seal our
      // segment; writing on into it would add records nobody reads again.
      if (this.adopted || !(await this.stillNamed())) await this.abandon();
    }
    const written = await this.writeGroup(buffer, onLanded);
    // Sealed by another process (it took us for dead) or deleted with the directory while we
    // wrote: those bytes may never be read, so they go again into a segment of our own. The
    // adopter may have read them too: the uuid makes that copy a duplicate, not a loss.
    if (await this.stillNamed()) return written;
    await this.abandon();
    return this.writeGroup(buffer);
  }

  private async writeGroup(buffer: Buffer, onLanded?: (at: WrittenGroup) => void): Promise<WrittenGroup> {
    if (this.handle !== null && this.size > 0 && this.size + buffer.length > this.options.maxSegmentBytes) {
      await this.seal();
    }
    if (this.handle === null) await this.startSegment();
    const handle = this.handle!;
    const start = this.size;
    try {
      let done = 0;
      while (done < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, done, buffer.length - done, start + done);
        done += bytesWritten;
      }
      // In the file now (the page cache): a process ending during the datasync keeps them.
      onLanded?.({ base: this.base!, start, end: start + buffer.length });
      if (this.options.fsync) await handle.datasync();
    } catch (error) {
      // Leave no partial group behind: cut back to the last whole group, or give the segment up.
      try {
        await handle.truncate(start);
      } catch {
        await this.seal().catch(() => {});
      }
      throw error;
    }
    this.size = start + buffer.length;
    this.lastTouchMs = this.monotonicNow();
    return { base: this.base!, start, end: this.size };
  }

  /** `seal()` when the active segment holds anything; an empty one stays open for the next write. */
  async sealIfWritten(): Promise<void> {
    if (this.handle !== null && this.size > 0) await this.seal();
  }

  /** Closes the active segment and renames it `.log`; the next write starts a new one. */
  async seal(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return;
    const open = this.openPath();
    this.handle = null;
    this.base = null;
    this.size = 0;
    await handle.close().catch(() => {});
    try {
      await fs.rename(open, open.slice(0, -OPEN_SUFFIX.length) + SEALED_SUFFIX);
      if (this.options.fsync) await fsyncDirectory(this.options.directory);
    } catch (error) {
      // ENOENT: another process already sealed it (it believed us dead); nothing is lost.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Refreshes the heartbeat (mtime) of the active segment so nobody adopts it. */
  async heartbeat(): Promise<void> {
    // No base yet: a segment being started (its handle is set before its name).
    if (this.handle === null || this.base === null) return;
    const now = new Date();
    const base = this.base;
    try {
      await fs.utimes(this.openPath(), now, now);
      this.lastTouchMs = this.monotonicNow();
    } catch (error) {
      // Sealed by another process, or the directory is gone (see `stillNamed`). Not when this
      // writer sealed it meanwhile itself (a clear, `seal()`): its next segment is healthy.
      if (PATH_GONE.has((error as NodeJS.ErrnoException).code ?? '') && this.base === base)
        this.adopted = true;
    }
  }

  private openPath(): string {
    return path.join(this.options.directory, `${this.base}${OPEN_SUFFIX}`);
  }

  /** Our `.open` name still names the file we write (not renamed, not deleted). */
  private async stillNamed(): Promise<boolean> {
    if (this.handle === null) return true;
    try {
      return (await fs.stat(this.openPath())).ino === this.ino;
    } catch (error) {
      // The name leads nowhere any more: gone (ENOENT), or the directory was replaced by a file
      // (ENOTDIR) or a symlink loop (ELOOP). Writing on into the unlinked file, each write
      // "succeeded" and persist() resolved for events nobody would ever read.
      if (PATH_GONE.has((error as NodeJS.ErrnoException).code ?? '')) return false;
      // Anything else (EACCES on a directory made unsearchable, EMFILE) proves nothing about the
      // name, but a file with no links left is deleted whatever its path answers.
      try {
        return (await this.handle.stat()).nlink > 0;
      } catch {
        return true;
      }
    }
  }

  private async abandon(): Promise<void> {
    await this.handle?.close().catch(() => {});
    this.handle = null;
    this.base = null;
    this.size = 0;
    this.adopted = false;
  }

  private async startSegment(): Promise<void> {
    // Name it after every segment already there, so records sort after older ones even if
    // this machine's clock went back or another process started in the same millisecond.
    let newest = 0;
    const names = await fs.readdir(this.options.directory).catch(async (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The directory was deleted under us (a cache cleaned up): the events still come first.
      await makeDirectory(this.options.directory);
      return [];
    });
    for (const name of names) {
      const parsed = parseSegmentFileName(name);
      if (parsed !== null && parsed.createdMs > newest) newest = parsed.createdMs;
    }
    const createdMs = Math.max(Date.now(), this.lastCreatedMs + 1, newest + 1);
    const base = newSegmentBase(createdMs);
    this.handle = await fs.open(
      path.join(this.options.directory, `${base}${OPEN_SUFFIX}`),
      'wx',
      PRIVATE_FILE_MODE,
    );
    this.ino = (await this.handle.stat()).ino;
    if (this.options.fsync) await fsyncDirectory(this.options.directory);
    this.base = base;
    this.size = 0;
    this.lastCreatedMs = createdMs;
    this.lastTouchMs = this.monotonicNow();
  }
}
