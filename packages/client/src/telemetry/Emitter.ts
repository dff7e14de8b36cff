import type { ClientEventMap, ClientEventName } from '../events.js';
import { isThenable } from '../isThenable.js';
import type { Logger } from '../logger.js';

type Listener<K extends ClientEventName> = (payload: ClientEventMap[K]) => void;

/**
 * `client.on(name, listener)`. A listener that throws (or an async one that rejects) is logged
 * and skipped: an app's handler must never break delivery or `track()`. Emitting with no
 * listener costs one map lookup.
 *
 * An event its own listeners cause (a `drop` listener that tracks an event which is dropped too)
 * is counted as usual but not passed to them: they would cause it again, without end, inside
 * the app's own call.
 */
export class Emitter {
  private readonly listeners = new Map<ClientEventName, Set<Listener<ClientEventName>>>();
  /** The events whose listeners are running now. */
  private readonly emitting = new Set<ClientEventName>();
  /** Warned once per event name. */
  private readonly warnedLoop = new Set<ClientEventName>();

  constructor(private readonly logger: Logger) {}

  on<K extends ClientEventName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    const entry = listener as Listener<ClientEventName>;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit = <K extends ClientEventName>(name: K, payload: ClientEventMap[K]): void => {
    const set = this.listeners.get(name);
    if (set === undefined || set.size === 0) return;
    if (this.emitting.has(name)) {
      if (!this.warnedLoop.has(name)) {
        this.warnedLoop.add(name);
        this.logger.warn(
          `a "${name}" listener caused another "${name}" event; it is not passed to the listeners, which would cause it again without end`,
        );
      }
      return;
    }
    this.emitting.add(name);
    try {
      for (const listener of [...set]) {
        try {
          const result: unknown = listener(payload);
          // An async listener's failure is a rejected promise nobody else holds: unhandled, it
          // ended a Node process (the default since Node 15) for a listener the docs say is only logged.
          if (isThenable(result)) {
            Promise.resolve(result).then(undefined, (error: unknown) =>
              this.logger.warn(`a "${name}" listener's promise rejected`, { error }),
            );
          }
        } catch (error) {
          this.logger.warn(`a "${name}" listener threw`, { error });
        }
      }
    } finally {
      this.emitting.delete(name);
    }
  };

  clear(): void {
    this.listeners.clear();
  }
}
