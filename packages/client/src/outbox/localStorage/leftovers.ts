import type { StorageLike } from '../localStorage.js';
import { keyPrefix } from './chunks.js';
import { defaultStorage } from './openStorage.js';

/**
 * Whether localStorage (the page's unless given) holds records or dead letters of the
 * localStorage outbox named `name`: one pass over its keys, nothing written. Throws when
 * localStorage cannot be used (blocked).
 */
export function holdsLocalStorageOutbox(name: string, storage?: StorageLike): boolean {
  const from = storage ?? defaultStorage();
  const prefix = keyPrefix(name);
  const chunks = `${prefix}c:`;
  const deadLetters = `${prefix}dl`;
  for (let i = 0; i < from.length; i++) {
    const key = from.key(i);
    if (key !== null && (key.startsWith(chunks) || key === deadLetters)) return true;
  }
  return false;
}
