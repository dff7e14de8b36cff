import type { ConsoleLike } from './runtimeGlobals.js';
import { formatConsoleArgs } from './formatConsoleArgs.js';
import type { BreadcrumbInput, BreadcrumbLevel } from './types.js';

export type ConsoleMethod = 'debug' | 'info' | 'log' | 'warn' | 'error';

export const CONSOLE_METHODS: readonly ConsoleMethod[] = ['debug', 'info', 'log', 'warn', 'error'];

const LEVELS: Record<ConsoleMethod, BreadcrumbLevel> = {
  debug: 'debug',
  info: 'info',
  log: 'info',
  warn: 'warning',
  error: 'error',
};

/**
 * Records console calls as breadcrumbs, then calls the original method unchanged. `isBusy`
 * is true while the tracker itself is working (including when its logger prints), so its
 * own output never becomes a breadcrumb and never recurses. Returns the uninstall function:
 * a method still ours is put back; one someone else wrapped after us is left in place and
 * our layer just passes through, since removing it would drop theirs.
 */
export function instrumentConsole(
  target: ConsoleLike,
  methods: readonly ConsoleMethod[],
  add: (crumb: BreadcrumbInput) => void,
  isBusy: () => boolean,
): () => void {
  let active = true;
  const restores: (() => void)[] = [];
  for (const method of methods) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    const wrapper = function (this: unknown, ...args: unknown[]): unknown {
      if (active && !isBusy()) {
        try {
          add({
            category: 'console',
            level: LEVELS[method],
            message: formatConsoleArgs(args),
            data: { method },
          });
        } catch {
          // A breadcrumb is never worth breaking the app's logging.
        }
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    target[method] = wrapper;
    restores.push(() => {
      if (target[method] === wrapper) target[method] = original;
    });
  }
  return () => {
    active = false;
    for (const restore of restores) restore();
  };
}
