import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { processAlive } from './processAlive.js';

/**
 * A lock file shared by processes on one machine: `{ pid, host, token }` inside, the file's
 * mtime as heartbeat.
 *
 * - Acquire: write the content to a temporary file, then `link` it to the lock name. `link`
 *   fails when the name exists, so creation is atomic and the lock is never seen empty.
 * - Stale: the owner's pid is gone (same host), or the heartbeat is older than `staleMs` (pid
 *   reused, other host, or an owner frozen that long).
 * - Take over: rename the stale file aside, then check that what was moved is the stale lock
 *   that was inspected. If someone took the lock in between (so a fresh lock was moved), it is
 *   linked back and the takeover gives up.
 * - The holder `verify`s its token before each critical step, so a holder that was frozen past
 *   `staleMs` and lost the lock finds out instead of acting on it.
 */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly acquiredAtMs: number;
}

export interface DirectoryLockOptions {
  /** A lock whose heartbeat is older than this is stale even if its pid exists. */
  readonly staleMs: number;
}

export class DirectoryLock {
  private token: string | null = null;

  constructor(
    readonly file: string,
    private readonly options: DirectoryLockOptions,
  ) {}

  get held(): boolean {
    return this.token !== null;
  }

  /** Takes the lock if it is free or stale; answers whether this instance holds it now. */
  async tryAcquire(): Promise<boolean> {
    if (this.token !== null) return this.verify();
    const token = randomBytes(8).toString('hex');
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), token, acquiredAtMs: Date.now() };
    const tmp = `${this.file}.${token}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(owner));
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await fs.link(tmp, this.file);
          this.token = token;
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        if (!(await this.removeIfStale())) return false;
      }
      return false;
    } finally {
      await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Whether the lock file still holds this instance's token; if not, the lock is lost. */
  async verify(): Promise<boolean> {
    if (this.token === null) return false;
    const owner = await readOwner(this.file);
    if (owner?.token !== this.token) this.token = null;
    return this.token !== null;
  }

  /** Refreshes the heartbeat; answers false (and forgets the lock) when it was lost. */
  async heartbeat(): Promise<boolean> {
    if (!(await this.verify())) return false;
    const now = new Date();
    await fs.utimes(this.file, now, now).catch(() => {});
    return true;
  }

  async release(): Promise<void> {
    if (this.token === null) return;
    if (await this.verify()) await fs.rm(this.file, { force: true }).catch(() => {});
    this.token = null;
  }

  /** Who holds the lock now and how fresh its heartbeat is, or null when free. */
  async inspect(): Promise<{ owner: LockOwner | null; heartbeatAgeMs: number; stale: boolean } | null> {
    let mtimeMs: number;
    try {
      mtimeMs = (await fs.stat(this.file)).mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const owner = await readOwner(this.file);
    const heartbeatAgeMs = Math.max(0, Date.now() - mtimeMs);
    return { owner, heartbeatAgeMs, stale: this.isStale(owner, heartbeatAgeMs) };
  }

  private isStale(owner: LockOwner | null, heartbeatAgeMs: number): boolean {
    if (heartbeatAgeMs > this.options.staleMs) return true;
    return owner !== null && owner.host === os.hostname() && !processAlive(owner.pid);
  }

  /** Moves a stale lock out of the way; answers whether acquiring is worth another try. */
  private async removeIfStale(): Promise<boolean> {
    const seen = await this.inspect();
    if (seen === null) return true;
    if (!seen.stale) return false;
    const aside = `${this.file}.${randomBytes(6).toString('hex')}.stale`;
    try {
      await fs.rename(this.file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw error;
    }
    const moved = await readOwner(aside);
    if (moved?.token === seen.owner?.token) {
      await fs.rm(aside, { force: true }).catch(() => {});
      return true;
    }
    // A fresh lock was taken between our look and our rename: give it back.
    await fs.link(aside, this.file).catch(() => {});
    await fs.rm(aside, { force: true }).catch(() => {});
    return false;
  }
}

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.token !== 'string' || typeof parsed.host !== 'string')
      return null;
    return parsed as LockOwner;
  } catch {
    return null;
  }
}
