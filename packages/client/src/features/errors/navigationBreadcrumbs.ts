import { stripUrl } from './fetchBreadcrumbs.js';
import type { BrowserWindowLike } from './runtimeGlobals.js';
import { subscribePatch } from './sharedPatch.js';
import type { BreadcrumbInput } from './types.js';

/**
 * Records page navigations of single-page apps (`history.pushState` / `replaceState`, and
 * `popstate` for back/forward) as `{ from, to }` breadcrumbs. URLs keep origin and path only.
 */
export function instrumentNavigation(
  win: BrowserWindowLike,
  add: (crumb: BreadcrumbInput) => void,
): () => void {
  const history = win.history;
  const location = win.location;
  if (history === undefined || location === undefined) return () => {};
  let active = true;
  let last = safeHref(location);
  const record = (kind: string): void => {
    try {
      const to = safeHref(location);
      if (to === last && kind !== 'replaceState') return;
      add({
        category: 'navigation',
        level: 'info',
        message: `${last} -> ${to}`,
        data: { from: last, to, kind },
      });
      last = to;
    } catch {}
  };
  // One wrapper per method for every tracker of the process (`subscribePatch`): stacked, they piled up.
  const wrap = (method: 'pushState' | 'replaceState'): (() => void) =>
    subscribePatch<(kind: string) => void>(
      history,
      method,
      NAVIGATION_PATCH,
      record,
      (original, listeners) =>
        function (this: unknown, ...args: unknown[]) {
          const result = original.apply(this, args);
          for (const listener of listeners) listener(method);
          return result;
        },
    );
  const restorePush = wrap('pushState');
  const restoreReplace = wrap('replaceState');
  const onPopState = (): void => {
    if (active) record('popstate');
  };
  win.addEventListener('popstate', onPopState);
  return () => {
    active = false;
    restorePush();
    restoreReplace();
    win.removeEventListener('popstate', onPopState);
  };
}

function safeHref(location: { href: string }): string {
  try {
    return stripUrl(location.href);
  } catch {
    return '';
  }
}

const NAVIGATION_PATCH = Symbol('homing.navigation');
