/** The storages of a page that may keep nothing (a sandboxed or cross-origin frame, a data: URL). */

/** An `indexedDB` whose `open` throws, as Chromium's does in a sandboxed frame or a data: URL. */
export function refusedIndexedDB(): unknown {
  return {
    open() {
      throw new DOMException(
        "Failed to execute 'open' on 'IDBFactory': access to the Indexed Database API is denied in this context.",
        'SecurityError',
      );
    },
  };
}

/** `localStorage` that throws when read, as in a sandboxed frame or a data: URL. */
export function blockLocalStorage(): void {
  Object.defineProperty(globalThis, 'localStorage', {
    configurable: true,
    get() {
      throw new DOMException(
        "Failed to read the 'localStorage' property from 'Window': The document is sandboxed and lacks the 'allow-same-origin' flag.",
        'SecurityError',
      );
    },
  });
}
