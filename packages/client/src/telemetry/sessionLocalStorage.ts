import type { KeptSession, SessionStore } from '../pipeline/session.js';
import { defaultLocalStorage, readItem, type SyncStorage } from './localStorageAccess.js';

/** The localStorage key of the session of the client called `name`. */
export function sessionKey(name: string): string {
  return `homing:${name}:session`;
}

/**
 * Browsers: `$session_id` and its last activity in localStorage, which every tab and page load
 * of the origin reads synchronously, so a visit is one session across reloads, navigations and
 * tabs (in memory only, each page load started a new one). A storage that is missing, blocked
 * or full keeps nothing: the session then lives in the page's memory, as on Node.
 */
export function sessionLocalStorage(
  name: string,
  storage: () => SyncStorage | undefined = defaultLocalStorage,
): SessionStore {
  const key = sessionKey(name);
  return {
    read() {
      const raw = readItem(storage, key);
      if (raw === undefined) return undefined;
      try {
        const { id, lastMs, samplingPoint } = JSON.parse(raw) as Partial<KeptSession>;
        if (typeof id === 'string' && /^[0-9A-Za-z-]{8,64}$/.test(id) && Number.isFinite(lastMs)) {
          return typeof samplingPoint === 'number'
            ? { id, lastMs: lastMs!, samplingPoint }
            : { id, lastMs: lastMs! };
        }
      } catch {
        // Damaged: as good as none; the next write replaces it.
      }
      return undefined;
    },
    write(session) {
      try {
        const { id, lastMs, samplingPoint } = session;
        storage()?.setItem(key, JSON.stringify({ id, lastMs, samplingPoint }));
      } catch {
        // Full or blocked: this page keeps its session in memory.
      }
    },
  };
}
