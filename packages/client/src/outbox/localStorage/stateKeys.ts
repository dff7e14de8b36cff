import type { Logger } from '../../logger.js';
import { OutboxIoError } from '../errors.js';
import type { StorageLike } from '../localStorage.js';

/**
 * `getState`/`setState` of the localStorage outbox: one key per state value, `<prefix>s:<key>`,
 * holding its JSON (the key checked and the value encoded by the caller, `stateValue.ts`).
 */
export class StateKeys {
  constructor(
    private readonly storage: StorageLike,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  read<T>(key: string): T | undefined {
    const json = this.storage.getItem(`${this.prefix}s:${key}`);
    if (json === null) return undefined;
    try {
      return JSON.parse(json) as T;
    } catch (error) {
      this.logger.warn('outbox state value is damaged; treated as unset', { key, error });
      return undefined;
    }
  }

  /** Writes the encoded value; undefined removes the key. */
  write(key: string, json: string | undefined): void {
    try {
      if (json === undefined) this.storage.removeItem(`${this.prefix}s:${key}`);
      else this.storage.setItem(`${this.prefix}s:${key}`, json);
    } catch (error) {
      throw new OutboxIoError('setState', { cause: error });
    }
  }
}
