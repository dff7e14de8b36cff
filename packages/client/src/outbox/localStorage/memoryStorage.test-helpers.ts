import type { StorageLike } from '../localStorage.js';

/**
 * A Web Storage stand-in for Node tests: insertion-ordered like browsers, with an optional
 * quota in UTF-16 code units (keys and values together, as browsers count) that throws the
 * same `QuotaExceededError` DOMException a browser throws. `written` counts the characters
 * passed to `setItem`, so a test can check how much one append rewrites.
 */
export class MemoryStorage implements StorageLike {
  private readonly items = new Map<string, string>();
  written = 0;
  failWrites: Error | undefined;

  constructor(public quota = Infinity) {}

  get length(): number {
    return this.items.size;
  }

  key(index: number): string | null {
    let i = 0;
    for (const key of this.items.keys()) if (i++ === index) return key;
    return null;
  }

  getItem(key: string): string | null {
    return this.items.get(String(key)) ?? null;
  }

  setItem(key: string, value: string): void {
    if (this.failWrites !== undefined) throw this.failWrites;
    const k = String(key);
    const v = String(value);
    const before = this.items.get(k);
    const used = this.used() - (before === undefined ? 0 : k.length + before.length) + k.length + v.length;
    if (used > this.quota) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.items.set(k, v);
    this.written += v.length;
  }

  removeItem(key: string): void {
    this.items.delete(String(key));
  }

  clear(): void {
    this.items.clear();
  }

  used(): number {
    let n = 0;
    for (const [k, v] of this.items) n += k.length + v.length;
    return n;
  }

  keys(): string[] {
    return [...this.items.keys()];
  }
}
