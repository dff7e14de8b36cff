import { PAGE_PROPERTIES_CHARS } from './store.js';

/**
 * The rows of one page of events as they are read, both stores alike: up to `limit` rows or
 * PAGE_PROPERTIES_CHARS of properties (UTF-16 code units), the row that reaches it included, so
 * a page always holds one event. `cut`: it stopped at the size, short of `limit`.
 */
export class SizedPage<R extends { properties: string }> {
  readonly rows: R[] = [];
  cut = false;
  private chars = 0;

  constructor(
    private readonly limit: number,
    private readonly onCut?: () => void,
  ) {}

  /** Adds a row; true when the page is full by size short of `limit` (stop reading). */
  add(row: R): boolean {
    this.rows.push(row);
    this.chars += row.properties.length;
    if (this.chars < PAGE_PROPERTIES_CHARS || this.rows.length >= this.limit) return false;
    this.cut = true;
    this.onCut?.();
    return true;
  }

  /** Characters of properties the rows hold so far. */
  get propertiesChars(): number {
    return this.chars;
  }
}
