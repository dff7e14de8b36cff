/** Where `online` / `offline` events arrive: a page's `window`, a worker's global scope. */
export interface OnlineEventTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * `navigator.onLine`, taken as offline only when it is exactly false: runtimes that do not know
 * (Node, edge runtimes: no navigator, or one without `onLine`) must not stop delivery.
 */
export function navigatorOnline(navigator: { readonly onLine?: unknown } | undefined): boolean {
  return navigator?.onLine !== false;
}

/**
 * Calls `listener` with false on `offline` and true on `online` at `target` (nothing where there
 * is no target); returns the unsubscribe function.
 */
export function listenOnlineChange(
  target: OnlineEventTarget | undefined,
  listener: (online: boolean) => void,
): () => void {
  if (target === undefined) return () => {};
  const online = (): void => listener(true);
  const offline = (): void => listener(false);
  target.addEventListener('online', online);
  target.addEventListener('offline', offline);
  return () => {
    target.removeEventListener('online', online);
    target.removeEventListener('offline', offline);
  };
}
