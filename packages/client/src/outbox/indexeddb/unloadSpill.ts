import type { StorageLike } from '../localStorage.js';
import type { OutboxRecord } from '../outbox.js';
import { randomOwnerId } from './deliveryLock.js';
import { isJsonText } from '../jsonText.js';

/**
 * Records appended to the IndexedDB outbox and not written yet when the page goes away, saved
 * to localStorage inside the `pagehide` handler: an IndexedDB write begun then does not commit
 * (in Chromium, 101 of 160 such events, those the unload request had no room for, were lost),
 * while localStorage writes at once. The next outbox opened under the same name takes them
 * back (`load`) and removes the keys once they are in IndexedDB. A page that lives on (a hidden
 * tab) removes its own key when its write has committed. A record that reached IndexedDB or the
 * unload request as well comes back as a duplicate, which the server drops by uuid.
 */
export class UnloadSpill {
  private readonly key: string;
  /** Keys of records added after the last `save` (appends of a hidden page), one per append. */
  private added: string[] = [];

  /** `storage` null: nothing is saved (no localStorage here, or it is blocked). */
  constructor(
    private readonly storage: StorageLike | null,
    private readonly prefix: string,
  ) {
    this.key = `${prefix}${randomOwnerId()}`;
  }

  /** Saves these records under this page's key, replacing what it saved before. Never throws. */
  save(records: readonly OutboxRecord[]): boolean {
    if (records.length === 0) return false;
    if (!this.write(this.key, records)) return false;
    this.remove(this.added.splice(0));
    return true;
  }

  /**
   * Saves these records beside what this page saved before, under a key of their own: an append
   * costs what it adds, not a rewrite of everything unwritten. Never throws.
   */
  add(records: readonly OutboxRecord[]): boolean {
    if (records.length === 0) return false;
    const key = `${this.key}:${this.added.length}`;
    if (!this.write(key, records)) return false;
    this.added.push(key);
    return true;
  }

  /** This page's records reached IndexedDB. */
  clear(): void {
    this.remove([this.key, ...this.added.splice(0)]);
  }

  /** Every saved record under this outbox's name (other pages' too), with the keys that held them. */
  load(): { records: OutboxRecord[]; keys: string[] } {
    const records: OutboxRecord[] = [];
    const keys: string[] = [];
    if (this.storage === null) return { records, keys };
    try {
      for (let i = 0; i < this.storage.length; i++) {
        const key = this.storage.key(i);
        if (key !== null && key.startsWith(this.prefix)) keys.push(key);
      }
      for (const key of keys) records.push(...decode(this.storage.getItem(key)));
    } catch {
      return { records: [], keys: [] };
    }
    return { records, keys };
  }

  private write(key: string, records: readonly OutboxRecord[]): boolean {
    if (this.storage === null) return false;
    try {
      this.storage.setItem(key, JSON.stringify(records.map((r) => [r.uuid, r.json, r.timestampMs])));
      return true;
    } catch {
      // Full or blocked: the unload request is all these records get.
      return false;
    }
  }

  remove(keys: readonly string[]): void {
    if (this.storage === null) return;
    for (const key of keys) {
      try {
        this.storage.removeItem(key);
      } catch {
        // Loaded again next time: a duplicate, not a loss.
      }
    }
  }
}

/** What one key holds; a damaged value yields what can be read of it (the outbox counts the rest as corrupt). */
function decode(raw: string | null): OutboxRecord[] {
  if (raw === null) return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.map((v: unknown) => {
    const [uuid, json, timestampMs] = Array.isArray(v) ? (v as unknown[]) : [];
    // A json that no longer parses is left out, so `append` counts the record as corrupt.
    const whole = typeof json === 'string' && isJsonText(json) ? json : undefined;
    return { uuid, json: whole, timestampMs } as unknown as OutboxRecord;
  });
}

/** `globalThis.localStorage`, or null where it is missing or throws on access. */
export function defaultSpillStorage(): StorageLike | null {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    return storage !== undefined && storage !== null && typeof storage.setItem === 'function'
      ? storage
      : null;
  } catch {
    return null;
  }
}
