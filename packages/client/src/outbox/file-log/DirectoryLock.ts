import { randomBytes } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import { threadId } from 'node:worker_threads';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { NotOurFileError } from './notOurs.js';
import { ownFileText, ownFileTextSync } from './ownFileText.js';
import { PRIVATE_FILE_MODE } from './privateModes.js';
import { processAlive } from './processAlive.js';
import { answerThreadProbes, threadGone } from './threadGone.js';

/**
 * A lock file shared by processes on one machine: `{ pid, host, token }` inside, the file's
 * mtime as heartbeat.
 *
 * - Acquire: write the content to a temporary file, then `link` it to the lock name. `link`
 *   fails when the name exists, so creation is atomic and the lock is never seen empty.
 * - Stale: the owner's pid is gone (same host), or its heartbeat was seen unchanged for `staleMs`
 *   of this instance's monotonic clock (pid reused, or an owner frozen or hung that long). A live
 *   owner's heartbeat is never compared with the wall clock: stepped forward past `staleMs`, that
 *   made every contender take the lock of a holder in the middle of a send, which sent its batch
 *   twice. An owner on another host (or a file that names none) is stale too when its heartbeat is
 *   more than `staleMs` away from now, in the past or in the future. A lock with this process's
 *   own pid and thread that no instance here holds is stale at once: a process before us had the
 *   same pid (a container's CLI runs as pid 1 every time) and died holding it. One with our own
 *   pid and another thread is stale at once when that thread is gone (`threadGone`: a Worker
 *   ended with `terminate()` runs no exit hook); a live thread's, blocked or not, as a live
 *   process's. Older locks, whose thread does not answer, only by their heartbeat.
 * - Take over: one contender at a time (a `<lock>.takeover` mutex file created with O_EXCL)
 *   looks again, renames the stale file aside and checks that what it moved is the stale lock
 *   it inspected; if a fresh lock was moved instead, it is linked back and the takeover gives
 *   up. The others answer "not acquired".
 * - The holder `verify`s its token before each critical step, so a holder that was frozen past
 *   `staleMs` and lost the lock finds out instead of acting on it.
 */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly acquiredAtMs: number;
  /** The owner's `worker_threads` thread id (0: the main thread); absent in older lock files. */
  readonly thread?: number;
  /** How often the owner refreshes its heartbeat; absent in older lock files and in mutexes. */
  readonly heartbeatMs?: number;
  /**
   * The owner's thread answers `threadGone` probes while it lives (`answerThreadProbes`); absent
   * in older lock files (a live thread there would look gone) and where Node cannot ask.
   */
  readonly threadProbes?: boolean;
}

/**
 * Tokens of the locks and takeover mutexes held in this thread, kept on `globalThis` so that two
 * copies of this module (a bundled and an unbundled client in one app) see each other's.
 */
const HELD_HERE: Set<string> = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('homing.directoryLock.held')
] ??= new Set<string>()) as Set<string>;

export interface DirectoryLockOptions {
  /** A lock whose heartbeat was seen unchanged this long is stale even if its pid exists. */
  readonly staleMs: number;
  /** Monotonic clock in ms that heartbeats are watched with. Default `performance.now()`. */
  readonly monotonicNow?: () => number;
  /**
   * How often this instance refreshes the heartbeat of a lock it holds (its owner calls
   * `heartbeat()`): written into the lock, so that a contender tuned otherwise (the CLI beside
   * an app) watches long enough (see `inspect`). Default `staleMs / 15` (2 s at 30 s).
   */
  readonly heartbeatMs?: number;
  /**
   * Whether watching a lock that looks abandoned (see `inspect`) keeps the process alive: for a
   * command that waits for the answer (the CLI). An app's background claims must not (an app
   * ending with such a lock in its outbox stayed alive for the watch). Default false.
   */
  readonly keepAliveWhileWatching?: boolean;
}

/** A heartbeat as last seen: which owner, its mtime, and since when (monotonic) it is unchanged. */
interface SeenHeartbeat {
  readonly token: string | undefined;
  readonly mtimeMs: number;
  readonly sinceMs: number;
}

export class DirectoryLock {
  private token: string | null = null;
  /** When (monotonic) this instance took the lock or last refreshed its heartbeat. */
  private confirmedAtMs = Number.NEGATIVE_INFINITY;
  private readonly monotonicNow: () => number;
  private readonly heartbeatMs: number;
  /** The heartbeat of each file this instance looked at (the lock, its takeover mutex). */
  private readonly seen = new Map<string, SeenHeartbeat>();
  /** A lock this instance watched unchanged (see `inspect`) past a wall-clock-stale heartbeat. */
  private abandoned: { token: string | undefined; mtimeMs: number } | null = null;

  constructor(
    readonly file: string,
    private readonly options: DirectoryLockOptions,
  ) {
    this.monotonicNow = options.monotonicNow ?? monotonicClock();
    this.heartbeatMs = options.heartbeatMs ?? options.staleMs / 15;
  }

  get held(): boolean {
    return this.token !== null;
  }

  /** Takes the lock if it is free or stale; answers whether this instance holds it now. */
  async tryAcquire(): Promise<boolean> {
    if (this.token !== null) return this.verify();
    const token = randomBytes(8).toString('hex');
    const owner: LockOwner = {
      pid: process.pid,
      host: os.hostname(),
      token,
      acquiredAtMs: Date.now(),
      thread: threadId,
      heartbeatMs: this.heartbeatMs,
      threadProbes: answerThreadProbes(),
    };
    const tmp = `${this.file}.${token}.tmp`;
    try {
      await fs.writeFile(tmp, JSON.stringify(owner), { mode: PRIVATE_FILE_MODE });
    } catch (error) {
      // A full disk creates the file and then fails the write: leave no empty temp behind (one
      // per attempt piled up while the disk stayed full).
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw error;
    }
    // Registered before the link: a contender in this thread that reads the new lock at once
    // must not take it for a dead predecessor's.
    HELD_HERE.add(token);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await fs.link(tmp, this.file);
          this.token = token;
          this.confirmedAtMs = this.monotonicNow();
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        if (!(await this.removeIfStale())) return false;
      }
      return false;
    } finally {
      if (this.token !== token) HELD_HERE.delete(token);
      await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Whether the lock file still holds this instance's token; if not, the lock is lost. */
  async verify(): Promise<boolean> {
    if (this.token === null) return false;
    const owner = await readOwner(this.file);
    if (owner?.token !== this.token) this.forget();
    return this.token !== null;
  }

  /**
   * `verify`, skipped while the answer cannot have changed: the owner is alive (it is us), and
   * nobody takes the lock over before a contender watched the heartbeat unchanged for 2.5
   * heartbeats (`inspect`); for one heartbeat after our last refresh (and never more than a
   * third of `staleMs`) the lock is known to be ours without reading the file. Trusted for a
   * third of `staleMs` (10 s), a holder stalled past a clock step kept claiming and acking for
   * seconds after a contender had taken the lock over in 5.
   */
  private trustMs(): number {
    return Math.min(this.heartbeatMs, this.options.staleMs / 3);
  }

  /** See `trustMs`. */
  async stillHeld(): Promise<boolean> {
    if (this.token === null) return false;
    if (this.monotonicNow() - this.confirmedAtMs < this.trustMs()) return true;
    return this.verify();
  }

  /** `stillHeld`, answered synchronously (reads the lock file when it must): for the exit path. */
  stillHeldNow(): boolean {
    if (this.token === null) return false;
    if (this.monotonicNow() - this.confirmedAtMs < this.trustMs()) return true;
    let owner: LockOwner | null = null;
    try {
      owner = parseOwner(ownFileTextSync(this.file) ?? '');
    } catch {
      // Unreadable: not known to be ours.
    }
    return owner?.token === this.token;
  }

  /** Refreshes the heartbeat; answers false (and forgets the lock) when it was lost. */
  async heartbeat(): Promise<boolean> {
    if (!(await this.verify())) return false;
    const now = new Date();
    await fs.utimes(this.file, now, now).catch(() => {});
    this.confirmedAtMs = this.monotonicNow();
    return true;
  }

  async release(): Promise<void> {
    if (this.token === null) return;
    if (await this.verify()) await fs.rm(this.file, { force: true }).catch(() => {});
    this.forget();
  }

  /**
   * `release`, synchronously, for the exit path: a process that ends without `close()` (a CLI
   * relying on the exit hooks) left its lock behind, and `homing status` read that as a crash.
   */
  releaseNow(): void {
    if (this.token === null) return;
    try {
      if (this.stillHeldNow()) rmSync(this.file, { force: true });
    } catch {
      // Left behind: the next process takes it over as stale, as after a crash.
    }
    this.forget();
  }

  private forget(): void {
    if (this.token !== null) HELD_HERE.delete(this.token);
    this.token = null;
  }

  /**
   * Who holds the lock now and how fresh its heartbeat is, or null when free. With `confirm`, a
   * lock that looks abandoned is watched for 2.5 of its owner's heartbeats first, so that a contender
   * that looks only once (a CLI run) can still tell a stopped or hung owner from a live one.
   */
  async inspect(
    options: { confirm?: boolean } = {},
  ): Promise<{ owner: LockOwner | null; heartbeatAgeMs: number; stale: boolean } | null> {
    const seen = await this.look();
    if (seen === null || seen.stale) return seen;
    // A thread of this process that looks gone is watched too: a live thread whose app removed
    // every 'workerMessage' listener looks just as gone to a probe, but its heartbeat goes on.
    const watch = looksAbandoned(seen, this.options.staleMs) || (await this.threadLooksGone(seen.owner));
    if (options.confirm !== true || !watch) return seen;
    // Two and a half of the owner's heartbeats (as it wrote them into the lock; else ours): a
    // live owner refreshes it at least twice meanwhile. Never longer than staleMs.
    const beatMs = seen.owner?.heartbeatMs ?? this.heartbeatMs;
    await delay(Math.min(this.options.staleMs, 2.5 * beatMs), this.options.keepAliveWhileWatching === true);
    const again = await this.look();
    if (again === null || again.owner?.token !== seen.owner?.token || again.mtimeMs !== seen.mtimeMs)
      return again;
    this.abandoned = { token: seen.owner?.token, mtimeMs: seen.mtimeMs };
    return { ...again, stale: true };
  }

  private async look(): Promise<{
    owner: LockOwner | null;
    heartbeatAgeMs: number;
    mtimeMs: number;
    stale: boolean;
  } | null> {
    let mtimeMs: number;
    try {
      mtimeMs = (await fs.lstat(this.file)).mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const owner = await readOwner(this.file);
    const heartbeatAgeMs = Math.max(0, Date.now() - mtimeMs);
    // A lock is linked into place whole (`tryAcquire`), so one that is not a lock owner's JSON
    // (garbage, a directory in its place) a moment after it appeared was never a live
    // process's lock: waiting `staleMs` for it held delivery up with no error to show.
    const garbage = owner === null && heartbeatAgeMs > GARBAGE_GRACE_MS && (await isGarbage(this.file));
    return {
      owner,
      heartbeatAgeMs,
      mtimeMs,
      stale: garbage || (await this.isStale(this.file, owner, mtimeMs)),
    };
  }

  /**
   * Whether `file`'s lock is stale. `probeThreads`: a lock of another thread of this process is
   * stale once that thread is gone by a probe (the takeover mutex, held for milliseconds); else a
   * probe only starts the watch of its heartbeat (`inspect`).
   */
  private async isStale(
    file: string,
    owner: LockOwner | null,
    mtimeMs: number,
    probeThreads = false,
  ): Promise<boolean> {
    const abandoned = this.abandoned;
    if (file === this.file && abandoned?.token === owner?.token && abandoned?.mtimeMs === mtimeMs)
      return true;
    const unchangedMs = this.heartbeatUnchangedMs(file, owner, mtimeMs);
    if (unchangedMs > this.options.staleMs) return true;
    if (owner === null || owner.host !== os.hostname()) {
      // Nothing to ask but the heartbeat, written by another clock or none: a contender that
      // looks only once (a CLI) still takes over a lock left long ago, or dated far ahead.
      return Math.abs(Date.now() - mtimeMs) > this.options.staleMs;
    }
    if (owner.pid !== process.pid) return !processAlive(owner.pid);
    const thread = owner.thread ?? 0;
    if (thread === threadId) return !HELD_HERE.has(owner.token);
    return probeThreads && (await this.threadLooksGone(owner));
  }

  /**
   * Whether `owner` is another thread of this process (or of a process before us with our pid)
   * that a probe finds gone: only a thread that answers probes can be asked; a live one, even
   * blocked, keeps its lock.
   */
  private async threadLooksGone(owner: LockOwner | null): Promise<boolean> {
    if (owner === null || owner.host !== os.hostname() || owner.pid !== process.pid) return false;
    const thread = owner.thread ?? 0;
    if (thread === threadId || owner.threadProbes !== true) return false;
    return threadGone(thread, {
      timeoutMs: THREAD_PROBE_TIMEOUT_MS,
      keepAlive: this.options.keepAliveWhileWatching === true,
    });
  }

  /** How long (monotonic) this instance has seen the same heartbeat of the same owner in `file`. */
  private heartbeatUnchangedMs(file: string, owner: LockOwner | null, mtimeMs: number): number {
    const now = this.monotonicNow();
    const before = this.seen.get(file);
    if (before !== undefined && before.token === owner?.token && before.mtimeMs === mtimeMs)
      return now - before.sinceMs;
    this.seen.set(file, { token: owner?.token, mtimeMs, sinceMs: now });
    return 0;
  }

  /**
   * Moves a stale lock out of the way; answers whether acquiring is worth another try. Only one
   * process at a time may do this (the takeover mutex), so two contenders never both remove a
   * lock and then both link their own.
   */
  private async removeIfStale(): Promise<boolean> {
    const seen = await this.inspect({ confirm: true });
    if (seen === null) return true;
    if (!seen.stale) return false;
    const mutex = await this.takeTakeoverMutex();
    if (mutex === null) return false;
    try {
      const again = await this.inspect();
      if (again === null) return true;
      if (!again.stale) return false;
      const aside = `${this.file}.${randomBytes(6).toString('hex')}.stale`;
      try {
        await fs.rename(this.file, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
        throw error;
      }
      const moved = await readOwner(aside);
      if (moved?.token === again.owner?.token) {
        // Recursive: what was in the way may be a directory (see `inspect`).
        await fs.rm(aside, { force: true, recursive: true }).catch(() => {});
        return true;
      }
      // The stale owner woke up and a fresh lock replaced it between our look and our rename:
      // give it back.
      await fs.link(aside, this.file).catch(() => {});
      await fs.rm(aside, { force: true }).catch(() => {});
      return false;
    } finally {
      await this.releaseTakeoverMutex(mutex);
    }
  }

  /** The takeover mutex (`<lock>.takeover`), or null when another process is taking over. */
  private async takeTakeoverMutex(): Promise<string | null> {
    const file = `${this.file}.takeover`;
    const token = randomBytes(8).toString('hex');
    const content = JSON.stringify({
      pid: process.pid,
      host: os.hostname(),
      token,
      acquiredAtMs: Date.now(),
      thread: threadId,
      threadProbes: answerThreadProbes(),
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      HELD_HERE.add(token);
      try {
        await createAndWrite(file, content);
        return token;
      } catch (error) {
        HELD_HERE.delete(token);
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      // Left behind by a process that died during a takeover (it takes milliseconds).
      let mtimeMs: number;
      try {
        mtimeMs = (await fs.lstat(file)).mtimeMs;
      } catch {
        continue;
      }
      const owner = await readOwner(file);
      if (!(await this.isStale(file, owner, mtimeMs, true))) return null;
      await fs.rm(file, { force: true }).catch(() => {});
    }
    return null;
  }

  private async releaseTakeoverMutex(token: string): Promise<void> {
    const file = `${this.file}.takeover`;
    if ((await readOwner(file))?.token === token) await fs.rm(file, { force: true }).catch(() => {});
    HELD_HERE.delete(token);
  }
}

/**
 * How long a thread of this process named in a lock may take to answer a probe before it counts
 * as alive (and busy) for this look; a thread that is gone is answered for at once.
 */
const THREAD_PROBE_TIMEOUT_MS = 250;

/** How old a lock file that holds no owner must be to be taken for garbage (any write is done by then). */
const GARBAGE_GRACE_MS = 1000;

/**
 * The file is there and certainly no lock owner's: not JSON of one, or no file of its own (a
 * directory, a FIFO, a socket, a link), not a read that failed.
 */
async function isGarbage(file: string): Promise<boolean> {
  try {
    const text = await ownFileText(file);
    return text !== undefined && parseOwner(text) === null;
  } catch (error) {
    return error instanceof NotOurFileError;
  }
}

/**
 * The owner in a lock file, or null. Read as a file of its own only (`ownFileText`): a FIFO put
 * at `delivery.lock` blocked every read of it for good, and the delivery, the exit and a status
 * with it.
 */
async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    return parseOwner((await ownFileText(file)) ?? '');
  } catch {
    return null;
  }
}

/** A lock owner's JSON, or null for anything else. */
function parseOwner(text: string): LockOwner | null {
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      parsed === null ||
      typeof parsed !== 'object' ||
      typeof parsed.pid !== 'number' ||
      typeof parsed.token !== 'string' ||
      typeof parsed.host !== 'string'
    )
      return null;
    return parsed as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Creates `file` (failing with EEXIST when it is there) and writes `content`. A file this call
 * created but could not write (a full disk) is removed: an empty mutex nobody owns would hold up
 * every takeover until it is staleMs old. Only a file this call created: when the create itself
 * fails, the name may already be another contender's.
 */
async function createAndWrite(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(content);
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.rm(file, { force: true }).catch(() => {});
    throw error;
  }
  await handle.close();
}

/**
 * A lock whose owner lives on this host and whose heartbeat is older than `staleMs` by the wall
 * clock: hung, stopped, a reused pid, or a wall clock stepped forward (which only watching tells).
 */
function looksAbandoned(seen: { owner: LockOwner | null; heartbeatAgeMs: number }, staleMs: number): boolean {
  const owner = seen.owner;
  return (
    owner !== null &&
    owner.host === os.hostname() &&
    owner.pid !== process.pid &&
    seen.heartbeatAgeMs > staleMs
  );
}

/** A wait, which keeps the process alive only when asked (`keepAliveWhileWatching`). */
function delay(ms: number, keepAlive: boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!keepAlive) timer.unref();
  });
}
