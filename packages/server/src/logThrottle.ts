/**
 * One log line per key per `intervalMs` at most, and how many were left out since: a failure
 * that lasts (a full disk answering every request 503, background work retrying each second)
 * would otherwise write a line per attempt, onto what may be the same full disk.
 */
export function logThrottle(
  intervalMs: number,
  now: () => number = Date.now,
): (key: string) => number | null {
  const last = new Map<string, { atMs: number; skipped: number }>();
  return (key) => {
    const t = now();
    const seen = last.get(key);
    if (seen !== undefined && t - seen.atMs < intervalMs) {
      seen.skipped++;
      return null;
    }
    // Bounded: keys are kinds and codes, a handful; never grow past a few hundred anyway.
    if (last.size > 256) last.clear();
    last.set(key, { atMs: t, skipped: 0 });
    return seen?.skipped ?? 0;
  };
}
