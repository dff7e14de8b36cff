/**
 * Whether the page is hidden or going away: from `pagehide` or a hidden `visibilitychange`
 * until it is shown again (`pageshow` from the back/forward cache, or visible again). `hide`
 * runs in those handlers. The outboxes ask `hidden` on every append too: an app's own `unload`
 * listener, or a timer still firing while the tab closes, tracks after their handler ran, and a
 * page going away gives no later turn to the write such an append scheduled (in Chromium those
 * events were lost with both storages). Not even a microtask is sure to run: saves deferred to
 * one lost an event in 2 of 8 `page.close()` runs in Chromium, so such appends are saved at once.
 */
export class PageHide {
  private isHidden = false;
  private readonly off: () => void;

  constructor(hide: () => void) {
    this.off = watchPage(
      () => {
        this.isHidden = true;
        try {
          hide();
        } catch {
          // Never thrown into the page's handlers; the outbox logs its own write failures.
        }
      },
      () => {
        this.isHidden = false;
      },
    );
  }

  /** Hidden or going away since the page was last shown. */
  get hidden(): boolean {
    return this.isHidden;
  }

  stop(): void {
    this.off();
    this.isHidden = false;
  }
}

/** Calls `hide` when the page is hidden or goes away, `show` when it is shown again; answers the unsubscribe. */
function watchPage(hide: () => void, show: () => void): () => void {
  const g = globalThis as {
    addEventListener?: (type: string, l: () => void) => void;
    removeEventListener?: (type: string, l: () => void) => void;
    document?: {
      visibilityState?: string;
      addEventListener?: (t: string, l: () => void) => void;
      removeEventListener?: (t: string, l: () => void) => void;
    };
  };
  if (typeof g.addEventListener !== 'function') return () => {};
  const onVisibility = (): void => {
    if (g.document?.visibilityState === 'hidden') hide();
    else show();
  };
  g.addEventListener('pagehide', hide);
  g.addEventListener('pageshow', show);
  g.document?.addEventListener?.('visibilitychange', onVisibility);
  return () => {
    g.removeEventListener?.('pagehide', hide);
    g.removeEventListener?.('pageshow', show);
    g.document?.removeEventListener?.('visibilitychange', onVisibility);
  };
}
