/**
 * The default clock of the HTTP server integrations: `performance.now()` of the `performance`
 * object found when the integration is set up, read through that reference on every request.
 * Node defines the global `performance` as a lazy getter, so `performance.now()` written inline
 * calls that getter as well as the method, twice per request; the getter showed in a loaded
 * server's CPU profile (about 1.6 % of Homing's samples), and two apps served side by side in one
 * process, one per build, loaded at once, gave this version 3.7 and 1.3 % fewer of Homing's
 * samples per request in two runs (2 and 3 processes x 15 s): small, but free. Where there is
 * no `performance` (not Node >= 16 or a browser), `Date.now()`: milliseconds only, but an
 * integration set up there still works instead of failing on every request.
 */
export function monotonicClock(): () => number {
  const perf = (globalThis as { performance?: { now(): number } }).performance;
  if (perf === undefined || perf === null || typeof perf.now !== 'function') return () => Date.now();
  return () => perf.now();
}
