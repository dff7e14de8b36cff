import { OutboxIoError, OutboxOptionError } from '../errors.js';
import type { StorageLike } from '../localStorage.js';

/**
 * The storage the localStorage outbox uses (`storage`, else the page's localStorage), checked
 * to be a Storage and to take a write under `prefix`.
 */
export function openStorage(storage: StorageLike | undefined, prefix: string): StorageLike {
  const opened = storage ?? defaultStorage();
  if (typeof opened?.getItem !== 'function' || typeof opened.key !== 'function') {
    throw new OutboxOptionError('storage', 'must be a Storage (localStorage)');
  }
  // Safari's private mode and blocked storage answer reads but throw on the first write.
  try {
    opened.setItem(`${prefix}probe`, '1');
    opened.removeItem(`${prefix}probe`);
  } catch (error) {
    throw new OutboxIoError('open', { cause: error });
  }
  return opened;
}

export function defaultStorage(): StorageLike {
  let storage: StorageLike | undefined;
  try {
    storage = (globalThis as { localStorage?: StorageLike }).localStorage;
  } catch (error) {
    // Blocked storage throws on access (cookies disabled, sandboxed frames).
    throw new OutboxIoError('open', { cause: error });
  }
  if (storage !== undefined && storage !== null) return storage;
  throw new OutboxOptionError('storage', 'localStorage is not available here (pass a Storage)');
}
