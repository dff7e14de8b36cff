/** The part of `Storage` the client's own keys need (`window.localStorage`). */
export interface SyncStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** `globalThis.localStorage`, or undefined where there is none or reading it throws (blocked). */
export function defaultLocalStorage(): SyncStorage | undefined {
  try {
    return (globalThis as { localStorage?: SyncStorage }).localStorage;
  } catch {
    return undefined;
  }
}

/** `getItem` that answers undefined instead of throwing (disabled storage, a sandboxed frame). */
export function readItem(storage: () => SyncStorage | undefined, key: string): string | undefined {
  try {
    return storage()?.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}
