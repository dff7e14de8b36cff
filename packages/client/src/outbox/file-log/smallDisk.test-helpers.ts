import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A real file system of a few hundred KiB to a few MiB (tmpfs), for tests of what a full disk
 * does: ENOSPC from the kernel, not from a mock. Needs root (mount); CI runs as root, so there
 * a failure to mount fails the test instead of skipping it.
 */
export interface SmallDisk {
  readonly dir: string;
  /** Fills what is left with a file of its own (`filler`); answers its size. */
  fill(): number;
  freeBytes(): number;
  unmount(): void;
}

export function canMountSmallDisks(): boolean {
  if (process.env.CI === 'true') return true;
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  try {
    mountSmallDisk(64 * 1024).unmount();
    return true;
  } catch {
    return false;
  }
}

export function mountSmallDisk(bytes: number): SmallDisk {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  const freeBytes = (): number => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    freeBytes,
    fill() {
      // dd stops at ENOSPC with what fitted; its exit status is then 1.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4096'], { stdio: 'pipe' });
      } catch {
        // ENOSPC: the disk is full, which is the point.
      }
      return freeBytes();
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
