import { StoreError } from '../store/errors.js';

/**
 * The store's error kind when `err` is a store failure that the request is answered 503 for
 * (directly, or wrapped as the admin API wraps it: its `cause`); null otherwise. The store's
 * `invalid-input` and `unknown-project` are the request's fault (400, 401), not an outage.
 */
export function storeOutageKind(err: unknown): string | null {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; depth++) {
    if (e instanceof StoreError) {
      return e.kind === 'invalid-input' || e.kind === 'unknown-project' ? null : e.kind;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}
