import type { Buffer } from 'node:buffer';
// Called through the module object, not named imports, so a test can count the opens.
import fs, { type Dirent } from 'node:fs';
import { OWN_FILE_ONLY } from './notOurs.js';

/**
 * Segments are read and cut only as files of their own: a symlink is not followed (ELOOP), and a
 * FIFO put there opens at once instead of holding a pool thread until a writer comes. The
 * listing skips both (`whyNotOpened`); these flags hold when one is swapped in after it.
 */
const READ_FLAGS = fs.constants.O_RDONLY | OWN_FILE_ONLY;
const WRITE_FLAGS = fs.constants.O_WRONLY | OWN_FILE_ONLY;

/** A directory entry named like a segment that is no file of the outbox's: skipped, left as it is. */
export class NotASegmentFileError extends Error {
  readonly kind = 'not-a-segment-file' as const;
  constructor(readonly what: string) {
    super(`${what}, not a segment file: skipped, never opened`);
    this.name = 'NotASegmentFileError';
  }
}

/**
 * Why an entry named like a segment is not to be opened at all, or null when it may be: a
 * symlink's target lies outside the outbox (cutting a "torn tail" through one emptied a file
 * elsewhere) and a FIFO's open blocks for good. A directory is let through: its read fails with
 * EISDIR, which says so.
 */
export function whyNotOpened(entry: Dirent): NotASegmentFileError | null {
  if (entry.isFile() || entry.isDirectory()) return null;
  if (entry.isSymbolicLink()) return new NotASegmentFileError('a symbolic link');
  return new NotASegmentFileError(entry.isFIFO() ? 'a FIFO' : entry.isSocket() ? 'a socket' : 'a device');
}

/** Cuts `file` (a sealed segment's torn tail) to `size` bytes, never through a symlink. */
export async function cutTail(file: string, size: number): Promise<void> {
  const handle = await fs.promises.open(file, WRITE_FLAGS);
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

/** What `scanSegment` reads through: a `FileHandle` is one, and so is a `SegmentFile`. */
export interface SegmentSource {
  stat(): Promise<{ size: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/**
 * A segment opened for reading on a plain file descriptor, through the callback API. A refresh
 * opens, reads and closes every segment it has not read to the end, and a `FileHandle` costs
 * far more main-thread time per operation: reading 5 000 small segments 16 at a time took
 * 220-265 ms through `FileHandle`s and 90-175 ms this way (loaded 2-core VM). Close it.
 */
export class SegmentFile implements SegmentSource {
  private constructor(private readonly fd: number) {}

  /** Opens `file` read-only; rejects as `fs.open` does (ENOENT when it is not there, ELOOP for a symlink). */
  static open(file: string): Promise<SegmentFile> {
    return new Promise((resolve, reject) => {
      fs.open(file, READ_FLAGS, (error, fd) =>
        error === null ? resolve(new SegmentFile(fd)) : reject(error),
      );
    });
  }

  stat(): Promise<{ size: number }> {
    return new Promise((resolve, reject) => {
      fs.fstat(this.fd, (error, st) => (error === null ? resolve(st) : reject(error)));
    });
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return new Promise((resolve, reject) => {
      fs.read(this.fd, buffer, offset, length, position, (error, bytesRead) =>
        error === null ? resolve({ bytesRead }) : reject(error),
      );
    });
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.close(this.fd, (error) => (error === null ? resolve() : reject(error)));
    });
  }
}
