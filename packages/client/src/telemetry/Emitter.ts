import type { ClientEventMap, ClientEventName } from '../events.js';
import type { Logger } from '../logger.js';

type Listener<K extends ClientEventName> = (payload: ClientEventMap[K]) => void;

/**
 * `client.on(name, listener)`. A listener that throws is logged and skipped: an app's handler
 * must never break delivery or `track()`. Emitting with no listener costs one map lookup.
 */
export class Emitter {
  private readonly listeners = new Map<ClientEventName, Set<Listener<ClientEventName>>>();

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
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.warn(`a "${name}" listener threw`, { error });
      }
    }
  };

  clear(): void {
    this.listeners.clear();
  }
}
