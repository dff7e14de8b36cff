import { OutboxOptionError } from '../errors.js';
import type { StorageLike } from '../localStorage.js';
import type { BrowserOutboxCommonOptions } from './options.js';
import { defaultSpillStorage } from './unloadSpill.js';

/**
 * An IndexedDB factory (`indexedDB`, or fake-indexeddb's `IDBFactory`), typed by what is called on
 * it: the DOM's `IDBFactory` in this public option made a Node project without the DOM lib fail
 * to compile the client's declarations.
 */
export interface IndexedDBFactoryLike {
  open(name: string, version?: number): unknown;
}

export interface IndexedDBOutboxOptions extends BrowserOutboxCommonOptions {
  /** The IndexedDB factory; default `globalThis.indexedDB`. */
  indexedDB?: IndexedDBFactoryLike;
  /**
   * Where records not yet written are saved when the page is hidden or goes away (see
   * `indexeddb/unloadSpill.ts`); default `globalThis.localStorage`; null: not saved.
   */
  unloadStorage?: StorageLike | null;
}

/**
 * The options of the IndexedDB outbox's own: its factory and its unload storage, checked. (No
 * DOM type here: these declarations are public, see `IndexedDBFactoryLike`.)
 */
export function resolveIndexedDBStorages(options: IndexedDBOutboxOptions): {
  factory: IndexedDBFactoryLike;
  unloadStorage: StorageLike | null;
} {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IndexedDBFactoryLike }).indexedDB;
  if (factory === undefined || factory === null || typeof factory.open !== 'function') {
    throw new OutboxOptionError('indexedDB', 'IndexedDB is not available here (pass an IDBFactory)');
  }
  const unloadStorage = options.unloadStorage === undefined ? defaultSpillStorage() : options.unloadStorage;
  if (unloadStorage !== null && typeof unloadStorage?.setItem !== 'function') {
    throw new OutboxOptionError('unloadStorage', 'must be a Storage (localStorage) or null');
  }
  return { factory, unloadStorage };
}
