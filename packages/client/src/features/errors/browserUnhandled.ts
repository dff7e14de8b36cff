import type { EventTargetLike } from './runtimeGlobals.js';

/**
 * Records a browser's uncaught errors (`error` on a page's window or a worker's global scope)
 * and unhandled rejections (`unhandledrejection`). The listeners never call `preventDefault()`, so the browser still
 * logs them to the console as it would without Homing. A page cannot delay its own crash, so
 * the persist started here is best effort (the outbox of a page is written as events arrive).
 */
export interface BrowserUnhandledHooks {
  record(error: unknown, origin: 'error' | 'unhandledrejection'): void;
  persist(): Promise<void>;
  captureErrors: boolean;
  captureRejections: boolean;
  onInternalError(error: unknown): void;
}

/** What an `error` event without an Error object (a cross-origin script, a syntax error) becomes. */
export class BrowserScriptError extends Error {
  override name = 'ScriptError';
}

export function installBrowserUnhandled(win: EventTargetLike, hooks: BrowserUnhandledHooks): () => void {
  const handle = (error: unknown, origin: 'error' | 'unhandledrejection'): void => {
    try {
      hooks.record(error, origin);
      hooks.persist().catch(hooks.onInternalError);
    } catch (e) {
      hooks.onInternalError(e);
    }
  };
  const onError = (event: any): void => {
    const error = event?.error;
    if (error !== undefined && error !== null) return handle(error, 'error');
    const message =
      typeof event?.message === 'string' && event.message !== '' ? event.message : 'Script error';
    const synthetic = new BrowserScriptError(message);
    if (typeof event?.filename === 'string' && event.filename !== '') {
      // Keep where it happened in a stack the parser reads like Firefox/Safari ones.
      synthetic.stack = `@${event.filename}:${Number(event.lineno) || 0}:${Number(event.colno) || 0}`;
    } else synthetic.stack = '';
    handle(synthetic, 'error');
  };
  const onRejection = (event: any): void => handle(event?.reason, 'unhandledrejection');
  if (hooks.captureErrors) win.addEventListener('error', onError);
  if (hooks.captureRejections) win.addEventListener('unhandledrejection', onRejection);
  return () => {
    win.removeEventListener('error', onError);
    win.removeEventListener('unhandledrejection', onRejection);
  };
}
