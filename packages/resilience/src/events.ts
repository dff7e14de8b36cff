import { ConfigError } from './errors.js';

/** What every event subscription returns: call `dispose()` to stop listening. */
export interface Disposable {
  dispose(): void;
}

/** Subscribes a listener to one event of a policy. */
export type EventSubscriber<T> = (listener: (value: T) => void) => Disposable;

/**
 * A tiny typed event. `emit` costs one length check when nobody listens, so policies can emit
 * on the hot path. A listener that throws does not break the policy that emitted: its error is
 * rethrown on a microtask, where it surfaces like any other uncaught error.
 */
export class Emitter<T> {
  private listeners: Array<(value: T) => void> = [];

  /** True when at least one listener is subscribed: lets callers skip building a payload. */
  get listening(): boolean {
    return this.listeners.length > 0;
  }

  readonly subscribe: EventSubscriber<T> = (listener) => {
    if (typeof listener !== 'function') {
      throw new ConfigError(
        'listener',
        `an event takes a function to call, got ${listener === null ? 'null' : typeof listener}`,
      );
    }
    // Copy on write: a listener that unsubscribes during emit does not skip its neighbour.
    this.listeners = [...this.listeners, listener];
    let active = true;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        const at = this.listeners.indexOf(listener);
        if (at >= 0) this.listeners = [...this.listeners.slice(0, at), ...this.listeners.slice(at + 1)];
      },
    };
  };

  emit(value: T): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Removes every listener (used by `close()`-style teardown). */
  clear(): void {
    this.listeners = [];
  }
}
