import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The file in the data directory naming the process whose store serves it. */
export const SERVER_PID_FILE = 'homing.pid';

/** What the pid file holds. */
export interface ServerPid {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is told apart; null elsewhere. */
  started: number | null;
  /** Which store wrote it: only that one removes it at close. */
  token: string;
}

/** The outcome of claiming the data directory at start. */
export interface PidClaim {
  /** Another live process that claimed the directory first (its file is left alone), or null. */
  other: ServerPid | null;
  /** Removes the file at close if it is still this store's. */
  release(): void;
}

/**
 * Marks the data directory as served by this process, or finds the live process that already
 * does. SQLite itself is correct with two servers on one directory (tested), but they wait for
 * each other's write locks, and a server's key filter is switched off for good the first time
 * it meets rows the other expanded: a second `homing serve` started without a word and slowed
 * the first until its restart. A file whose process is gone (a SIGKILL, a crash) or whose pid
 * now belongs to a process started at another time (a reused pid) is stale and taken over.
 * Never throws: without the file the store works as before, only without the warning.
 */
export function claimDataDir(dataDir: string): PidClaim {
  const file = join(dataDir, SERVER_PID_FILE);
  const existing = readPidFile(file);
  const me: ServerPid = {
    pid: process.pid,
    host: hostname(),
    started: processStarted(process.pid),
    token: randomBytes(8).toString('hex'),
  };
  if (existing !== null && existing.host === me.host && alive(existing)) {
    // This very process (another store on the same directory) is no other server.
    const sameProcess = existing.pid === me.pid && existing.started === me.started;
    return { other: sameProcess ? null : existing, release: () => {} };
  }
  try {
    const tmp = `${file}.${me.token}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(me)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    return { other: null, release: () => {} };
  }
  return {
    other: null,
    release: () => {
      if (readPidFile(file)?.token === me.token) rmSync(file, { force: true });
    },
  };
}

function readPidFile(file: string): ServerPid | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerPid>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || typeof v.token !== 'string') return null;
    return {
      pid: v.pid,
      host: v.host,
      started: typeof v.started === 'number' ? v.started : null,
      token: v.token,
    };
  } catch {
    return null;
  }
}

/** The pid exists (kill(pid, 0): EPERM is someone else's live process) and, where known, started when the file says. */
function alive(p: ServerPid): boolean {
  if (!Number.isSafeInteger(p.pid) || p.pid <= 0) return false;
  if (p.pid !== process.pid) {
    try {
      process.kill(p.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
  }
  const started = processStarted(p.pid);
  return p.started === null || started === null || started === p.started;
}

/** Field 22 of /proc/<pid>/stat (start time, ticks since boot), or null where there is no /proc. */
function processStarted(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isSafeInteger(v) ? v : null;
  } catch {
    return null;
  }
}
