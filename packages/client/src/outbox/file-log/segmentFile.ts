import type { Buffer } from 'node:buffer';
// Called through the module object, not named imports, so a test can count the opens.
import fs from 'node:fs';

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

  /** Opens `file` read-only; rejects as `fs.open` does (ENOENT when it is not there). */
  static open(file: string): Promise<SegmentFile> {
    return new Promise((resolve, reject) => {
      fs.open(file, 'r', (error, fd) => (error === null ? resolve(new SegmentFile(fd)) : reject(error)));
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
