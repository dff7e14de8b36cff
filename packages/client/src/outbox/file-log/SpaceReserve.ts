import { randomBytes } from 'node:crypto';
import { promises as fs, statfsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomicFile.js';

/**
 * Room kept aside in the outbox directory for the writes delivery cannot do without: a file of
 * `bytes` made while the disk has plenty, deleted when taking the delivery lock or saving the
 * cursor fails for lack of space, and made again once there is room.
 *
 * Why: on a full disk the lock file and the cursor cannot be written, so no process could take
 * the lock and deliver, while delivering is the one thing that frees the room (acknowledged
 * segments are deleted). The outbox's own segments are bounded by its limits; the disk is
 * usually filled by something else, and the events already stored must still go out.
 */
export const SPACE_RESERVE_FILE = 'space.reserve';
/** Enough for the lock, a cursor and the state files several times over. */
export const DEFAULT_RESERVE_BYTES = 64 * 1024;
/** The reserve is made only when this much is free beyond it: never take the last room. */
export const RESERVE_MIN_FREE_BYTES = 1024 * 1024;

export interface SpaceReserveOptions {
  readonly directory: string;
  readonly bytes?: number;
  /** Free bytes on the directory's file system; default `fs.statfs`. */
  readonly freeBytes?: (directory: string) => Promise<number>;
}

export class SpaceReserve {
  readonly file: string;
  private readonly bytes: number;
  private readonly freeBytes: (directory: string) => Promise<number>;
  private ensuring: Promise<void> | null = null;

  constructor(private readonly o: SpaceReserveOptions) {
    this.file = path.join(o.directory, SPACE_RESERVE_FILE);
    this.bytes = o.bytes ?? DEFAULT_RESERVE_BYTES;
    this.freeBytes = o.freeBytes ?? freeBytesOf;
  }

  /**
   * Makes the reserve if it is missing and the disk has room for it and RESERVE_MIN_FREE_BYTES
   * more. Best effort: never rejects.
   */
  ensure(): Promise<void> {
    this.ensuring ??= this.make().finally(() => {
      this.ensuring = null;
    });
    return this.ensuring;
  }

  /** Deletes the reserve; answers whether there was one to give up. */
  async release(): Promise<boolean> {
    try {
      await fs.unlink(this.file);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Runs `op`; if it fails for lack of space and the reserve was there, gives the reserve up and
   * runs `op` once more. Any other failure, or a second one, is `op`'s own.
   */
  async withRoom<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (!isNoSpace(error) || !(await this.release())) throw error;
      return op();
    }
  }

  /** `withRoom`, synchronously: for a process that ends in this turn. */
  withRoomSync<T>(op: () => T): T {
    try {
      return op();
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      try {
        unlinkSync(this.file);
      } catch {
        throw error;
      }
      return op();
    }
  }

  private async make(): Promise<void> {
    try {
      const st = await fs.stat(this.file).catch(() => null);
      if (st !== null && st.size >= this.bytes) return;
      if ((await this.freeBytes(this.o.directory)) < this.bytes + RESERVE_MIN_FREE_BYTES) return;
      // Random bytes: a file system that compresses would store zeros in next to no room.
      await writeFileAtomic(this.file, randomBytes(this.bytes), { fsync: false });
    } catch {
      // No reserve this time (a full disk, a read-only directory): the next call tries again.
    }
  }
}

/** The file system is out of room (or this user's quota). */
export function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Free bytes on the file system of `directory`, for an unprivileged user; Infinity when the file
 * system reports no size at all (some FUSE and virtual file systems answer statfs with zeros):
 * taken at its word, it would stop every write while the disk takes them.
 */
export async function freeBytesOf(directory: string): Promise<number> {
  return freeOf(await fs.statfs(directory));
}

/** `freeBytesOf`, synchronously (for a process that ends in this turn). */
export function freeBytesOfSync(directory: string): number {
  return freeOf(statfsSync(directory));
}

function freeOf(s: { blocks: number; bavail: number; bsize: number }): number {
  return s.blocks === 0 ? Infinity : s.bavail * s.bsize;
}
