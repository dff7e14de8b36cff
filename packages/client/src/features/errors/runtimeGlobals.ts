/**
 * The one place the error tracker looks at the runtime's globals. Everything else receives
 * these narrow shapes, so it runs the same in Node, browsers and tests (which pass fakes
 * through `ErrorTrackingOptions.globals`) without `typeof window` checks of its own.
 */
export interface NodeProcessLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
  prependListener(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  listenerCount(event: string): number;
  listeners(event: string): ((...args: any[]) => void)[];
  nextTick(callback: () => void): void;
  readonly execArgv: readonly string[];
  readonly env: Record<string, string | undefined>;
}

export interface EventTargetLike {
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

export interface HistoryLike {
  pushState(data: unknown, unused: string, url?: string | URL | null): void;
  replaceState(data: unknown, unused: string, url?: string | URL | null): void;
}

export interface BrowserWindowLike extends EventTargetLike {
  history?: HistoryLike;
  location?: { href: string };
}

export type ConsoleLike = Record<string, unknown>;

export type FetchLike = (input: any, init?: any) => Promise<any>;

export interface ErrorTrackerGlobals {
  /** Node's `process`; absent in browsers. */
  process?: NodeProcessLike;
  /** A browser window; absent in Node. */
  window?: BrowserWindowLike;
  /**
   * A browser worker's global scope (dedicated, shared or service worker); absent in pages and
   * Node. Its uncaught errors and unhandled rejections arrive there, not at any page's `window`.
   */
  workerScope?: EventTargetLike;
  console?: ConsoleLike;
  /** The object whose `fetch` property is wrapped (`globalThis`). */
  fetchOwner?: { fetch?: FetchLike };
}

export function detectGlobals(): ErrorTrackerGlobals {
  const g = globalThis as Record<string, any>;
  const out: ErrorTrackerGlobals = { fetchOwner: g as { fetch?: FetchLike } };
  const proc = g['process'];
  if (proc !== undefined && typeof proc.on === 'function' && typeof proc.prependListener === 'function') {
    out.process = proc as NodeProcessLike;
  }
  const win = g['window'];
  if (win !== undefined && win !== null && typeof win.addEventListener === 'function') out.window = win;
  else if (isWorkerScope(g)) out.workerScope = g as EventTargetLike;
  if (g['console'] !== undefined) out.console = g['console'] as ConsoleLike;
  return out;
}

/** `WorkerGlobalScope` is the base of every browser worker's global, and exists only there. */
function isWorkerScope(g: Record<string, any>): boolean {
  const scope: unknown = g['WorkerGlobalScope'];
  return typeof scope === 'function' && g instanceof scope && typeof g['addEventListener'] === 'function';
}
