import type { StorageLike } from '../localStorage.js';
import type { ChunkStore } from './ChunkStore.js';

/** The part of a page (`window`) that delivers `storage` events. */
export interface StorageEventSource {
  addEventListener(
    type: 'storage',
    listener: (event: { key: string | null; storageArea?: unknown }) => void,
  ): void;
  removeEventListener(
    type: 'storage',
    listener: (event: { key: string | null; storageArea?: unknown }) => void,
  ): void;
}

/** The page, when it delivers `storage` events for its own localStorage (`storage` left out). */
export function pageEvents(storage: StorageLike | undefined): StorageEventSource | null {
  const page = globalThis as Partial<StorageEventSource>;
  return storage === undefined &&
    typeof page.addEventListener === 'function' &&
    typeof page.removeEventListener === 'function'
    ? (page as StorageEventSource)
    : null;
}

/**
 * Marks the chunks changed when another tab writes one of them (or clears the storage), so
 * `ChunkStore.refresh` reads them again only then; answers the unsubscribe.
 */
export function watchChunkChanges(
  events: StorageEventSource,
  storage: StorageLike,
  prefix: string,
  chunks: ChunkStore,
): () => void {
  const chunkKeys = `${prefix}c:`;
  const listener = (event: { key: string | null; storageArea?: unknown }): void => {
    if (event.storageArea !== undefined && event.storageArea !== null && event.storageArea !== storage)
      return;
    if (event.key === null || event.key.startsWith(chunkKeys)) chunks.changed();
  };
  events.addEventListener('storage', listener);
  return () => events.removeEventListener('storage', listener);
}
