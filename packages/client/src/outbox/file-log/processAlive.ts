/**
 * Whether a process with this pid exists on this machine. `kill(pid, 0)` sends nothing; it
 * fails with ESRCH when there is no such process and EPERM when it exists but belongs to
 * someone else (alive). A pid can be reused, which is why locks and segments also carry a
 * heartbeat (mtime) that goes stale.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
