import type { Breadcrumb } from './types.js';

/**
 * The last `capacity` breadcrumbs, oldest overwritten first. A fixed array and a head index:
 * adding is O(1) and allocates nothing but the breadcrumb, however chatty the app is.
 * Capacity 0 keeps nothing (breadcrumbs off).
 */
export class BreadcrumbRing {
  private readonly items: (Breadcrumb | undefined)[];
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<Breadcrumb | undefined>(capacity);
  }

  add(crumb: Breadcrumb): void {
    if (this.capacity === 0) return;
    this.items[(this.head + this.size) % this.capacity] = crumb;
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** Oldest first; the array is new, the breadcrumbs are frozen so sharing them is safe. */
  toArray(): Breadcrumb[] {
    const out = new Array<Breadcrumb>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items[(this.head + i) % this.capacity]!;
    return out;
  }

  get length(): number {
    return this.size;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.size = 0;
  }
}
