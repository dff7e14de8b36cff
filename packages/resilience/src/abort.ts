import { ConfigError, TaskCancelledError } from './errors.js';
import { checkDelay } from './validate.js';
import { isSignalLike, watchAbort } from './watchAbort.js';

/**
 * Waits `ms`, or rejects with a TaskCancelledError as soon as `signal` aborts. The timer is
 * cleared and the listener removed either way. The timer is not unref'd on purpose: a backoff
 * sleep is the caller's awaited work, and a process must not exit in the middle of it.
 * A delay that is not a number from 0 to MAX_TIMER_MS rejects with a ConfigError: a timer
 * given more (or NaN, or a negative number) fires after 1 ms, the opposite of what was asked.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    checkDelay('ms', ms);
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted) return Promise.reject(new TaskCancelledError(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new TaskCancelledError(signal!.reason));
    };
    // The watch first: if `signal` is no signal this throws (rejecting) before any timer
    // exists, instead of leaving one that would throw later, outside any promise. (`timer` is
    // set before onAbort can run: the signal was not aborted, and nothing aborts it before
    // this executor returns.)
    const unwatch = signal == null ? undefined : watchAbort(signal, onAbort);
    const timer = setTimeout(() => {
      unwatch?.();
      resolve();
    }, ms);
  });
}

/** A signal that aborts when any of `signals` does; `dispose()` removes its listeners. */
export function anySignal(signals: readonly AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  // All read first: a bad entry after good ones would otherwise leave their watches behind.
  if (!Array.isArray(signals)) {
    throw new ConfigError('signals', `expected an array of AbortSignals, got ${describe(signals)}`);
  }
  signals.forEach((signal: unknown, i) => {
    if (!isSignalLike(signal)) {
      throw new ConfigError(`signals[${i}]`, `expected an AbortSignal, got ${describe(signal)}`);
    }
  });
  const controller = new AbortController();
  const unwatchers: Array<() => void> = [];
  const dispose = (): void => {
    for (const unwatch of unwatchers) unwatch();
    unwatchers.length = 0;
  };
  for (const signal of signals) {
    if (signal.aborted) {
      dispose();
      controller.abort(signal.reason);
      break;
    }
    unwatchers.push(
      watchAbort(signal, () => {
        dispose();
        controller.abort(signal.reason);
      }),
    );
  }
  return { signal: controller.signal, dispose };
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}
