import type { StorageLike } from '../localStorage.js';

/**
 * localStorage as Chromium shows it to several tabs: each tab (renderer process) reads its own
 * cached copy, its own writes land there at once, and other tabs' writes reach it later, in the
 * order they were made. `SharedStorage` holds what is really stored; `view()` is one tab's
 * `Storage`, whose `sync()` delivers what other tabs wrote meanwhile (all of it, or the first
 * `count` changes).
 */
export class SharedStorage {
  readonly items = new Map<string, string>();
  private readonly views: StaleStorageView[] = [];
  /** Orders every write, as the browser process does. */
  private writes = 0;

  view(): StaleStorageView {
    const view = new StaleStorageView(this, new Map(this.items));
    this.views.push(view);
    return view;
  }

  /** Applies one tab's write to the real storage and queues it for every other tab. */
  publish(from: StaleStorageView, key: string, value: string | null): number {
    if (value === null) this.items.delete(key);
    else this.items.set(key, value);
    const order = ++this.writes;
    for (const view of this.views) if (view !== from) view.inbox.push([key, value, order]);
    return order;
  }

  /** Every tab sees everything. */
  syncAll(): void {
    for (const view of this.views) view.sync();
  }
}

export class StaleStorageView implements StorageLike {
  /** Other tabs' writes not seen here yet, oldest first. */
  readonly inbox: [string, string | null, number][] = [];
  /** This tab's last write per key: an older write of another tab arriving later does not undo it. */
  private readonly own = new Map<string, number>();

  constructor(
    private readonly shared: SharedStorage,
    private readonly cache: Map<string, string>,
  ) {}

  get length(): number {
    return this.cache.size;
  }

  key(index: number): string | null {
    let i = 0;
    for (const key of this.cache.keys()) if (i++ === index) return key;
    return null;
  }

  getItem(key: string): string | null {
    return this.cache.get(String(key)) ?? null;
  }

  setItem(key: string, value: string): void {
    this.cache.set(String(key), String(value));
    this.own.set(String(key), this.shared.publish(this, String(key), String(value)));
  }

  removeItem(key: string): void {
    this.cache.delete(String(key));
    this.own.set(String(key), this.shared.publish(this, String(key), null));
  }

  /** Sees the first `count` of the other tabs' writes not seen yet (all by default). */
  sync(count = Infinity): void {
    for (const [key, value, order] of this.inbox.splice(0, count)) {
      if ((this.own.get(key) ?? 0) > order) continue;
      if (value === null) this.cache.delete(key);
      else this.cache.set(key, value);
    }
  }
}
