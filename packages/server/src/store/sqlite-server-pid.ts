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
  /** Another live process that serves the directory too (the first one listed), or null. */
  other: ServerPid | null;
  /** Takes this store out of the file at close (the file goes with the last one). */
  release(): void;
}

/**
 * Marks the data directory as served by this process, and finds a live process that serves it
 * too. SQLite itself is correct with two servers on one directory (tested), but they wait for
 * each other's write locks, and a server's key filter is switched off for good the first time
 * it meets rows the other expanded: a second `homing serve` started without a word and slowed
 * the first until its restart. The file lists every store serving the directory, so a third
 * server is warned of the second after the first stopped (holding the first one only, it was
 * warned of none). An entry whose process is gone (a SIGKILL, a crash), or whose pid now
 * belongs to a process started at another time (a reused pid), or of another host, is stale
 * and dropped. Two servers starting in the same instant may each miss the other. Never throws:
 * without the file the store works as before, only without the warning.
 */
export function claimDataDir(dataDir: string): PidClaim {
  const file = join(dataDir, SERVER_PID_FILE);
  const me: ServerPid = {
    pid: process.pid,
    host: hostname(),
    started: processStat(process.pid)?.started ?? null,
    token: randomBytes(8).toString('hex'),
  };
  const live = readPidFile(file).filter((p) => p.host === me.host && alive(p));
  // This very process (another store on the same directory) is no other server.
  const other = live.find((p) => !(p.pid === me.pid && p.started === me.started)) ?? null;
  if (!writePidFile(file, [...live, me], me.token)) return { other, release: () => {} };
  return {
    other,
    release: () => {
      const rest = readPidFile(file).filter((p) => p.token !== me.token);
      if (rest.length === 0) rmSync(file, { force: true });
      else writePidFile(file, rest, me.token);
    },
  };
}

/** Writes the file whole (a rename: a reader never sees half of it); false when it cannot. */
function writePidFile(file: string, servers: readonly ServerPid[], token: string): boolean {
  try {
    const tmp = `${file}.${token}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ servers })}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}

/** The servers the file lists: `{ servers: [...] }`, or one server as earlier versions wrote it. */
function readPidFile(file: string): ServerPid[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  const list = (parsed as { servers?: unknown } | null)?.servers;
  const entries = Array.isArray(list) ? (list as unknown[]) : [parsed];
  return entries.flatMap((entry) => {
    const v = entry as Partial<ServerPid> | null;
    if (typeof v?.pid !== 'number' || typeof v.host !== 'string' || typeof v.token !== 'string') return [];
    return [
      { pid: v.pid, host: v.host, started: typeof v.started === 'number' ? v.started : null, token: v.token },
    ];
  });
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
  const stat = processStat(p.pid);
  // A zombie (killed, not yet reaped by its parent) answers kill(pid, 0) but serves nothing.
  if (stat?.state === 'Z' || stat?.state === 'X') return false;
  const started = stat?.started ?? null;
  return p.started === null || started === null || started === p.started;
}

/**
 * Fields 3 (state) and 22 (start time, ticks since boot) of /proc/<pid>/stat, or null where
 * there is no /proc.
 */
function processStat(pid: number): { state: string; started: number | null } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return { state: fields[0] ?? '', started: Number.isSafeInteger(v) ? v : null };
  } catch {
    return null;
  }
}
