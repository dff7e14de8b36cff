import { ConfigError } from './errors.js';

/**
 * The calls watching one signal, behind a single 'abort' listener on it. Node warns
 * (MaxListenersExceededWarning, printed on the host's stderr) once a signal has more than ten
 * listeners, and an app's shutdown or request signal is commonly shared by many concurrent
 * calls: a timeout, a backoff sleep and a bulkhead queue each watch it per call.
 */
class Watch {
  readonly callbacks = new Set<{ readonly fn: () => void }>();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    watches.delete(this.signal);
    // Iterated live, not copied: a callback that an earlier one stops watching is skipped, as a
    // listener removed during dispatch would be. Each leaves the set before it runs, so its
    // own stop function is a no-op from then on.
    for (const c of this.callbacks) {
      this.callbacks.delete(c);
      try {
        c.fn();
      } catch (error) {
        // As an event listener's error would be: reported, without keeping the rest from running.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };

  remove(callback: { readonly fn: () => void }): void {
    if (!this.callbacks.delete(callback) || this.callbacks.size > 0) return;
    this.signal.removeEventListener('abort', this.onAbort);
    if (watches.get(this.signal) === this) watches.delete(this.signal);
  }
}

const watches = new WeakMap<AbortSignal, Watch>();

/**
 * Calls `onAbort` once when `signal` aborts, in the order the watches began; the answer stops
 * watching (and is a no-op once it ran). Throws a ConfigError, before anything is registered,
 * when `signal` is not an AbortSignal or `onAbort` not a function.
 */
export function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  // Found at once, not when the signal aborts: then it would throw from the abort's dispatch,
  // far from the mistake, and take the process down.
  if (typeof onAbort !== 'function') {
    throw new ConfigError(
      'onAbort',
      `expected a function, got ${onAbort === null ? 'null' : typeof onAbort}`,
    );
  }
  let watch = watches.get(signal);
  if (watch === undefined) {
    if (!isSignalLike(signal)) {
      throw new ConfigError(
        'signal',
        `expected an AbortSignal, got ${signal === null ? 'null' : typeof signal}`,
      );
    }
    watch = new Watch(signal);
    watches.set(signal, watch);
  }
  const w = watch;
  const callback = { fn: onAbort };
  w.callbacks.add(callback);
  return () => w.remove(callback);
}

/** Duck-typed, as addEventListener would be: a signal of another realm (a frame) is one too. */
export function isSignalLike(value: unknown): value is AbortSignal {
  return typeof (value as { addEventListener?: unknown } | null)?.addEventListener === 'function';
}
