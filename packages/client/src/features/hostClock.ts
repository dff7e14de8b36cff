import type { FeatureHost } from './feature.js';

/** The largest time a Date holds (ECMA-262 §21.4.1.22); past it toISOString() throws. */
const MAX_DATE_MS = 8.64e15;

/**
 * The host's clock for a feature: `host.now()` is the app's `now` option, and one that throws
 * or answers no time (NaN, a string, past a Date's range) must neither make a feature's call
 * throw into the app nor put an invalid time into an id, a group or an ISO timestamp. Such an
 * answer is replaced by Date.now(), and `onBadClock` is told once.
 */
export function hostClock(host: FeatureHost, onBadClock: (problem: string) => void): () => number {
  let told = false;
  return () => {
    let problem: string;
    try {
      const t = host.now();
      if (typeof t === 'number' && Math.abs(t) <= MAX_DATE_MS) return t;
      problem = `answered ${typeof t === 'number' ? String(t) : typeof t}, not epoch ms`;
    } catch (error) {
      problem = `threw ${String(error)}`;
    }
    if (!told) {
      told = true;
      try {
        onBadClock(`the client's now() ${problem}; using Date.now()`);
      } catch {
        // A logger's failure is no reason to lose the time.
      }
    }
    return Date.now();
  };
}
