/**
 * Milliseconds on a monotonic clock, for elapsed times and deadlines within this process. The
 * wall clock can step (an NTP correction, a suspended VM, a user changing the time): a deadline
 * kept on it ran late, or never ended, by the size of a step back, and ended early after one
 * forward. Only differences between two readings mean anything; never store one across processes.
 */
export function monotonicNow(): number {
  // Looked up each time: fake timers in tests replace the global.
  return (globalThis.performance ?? Date).now();
}
