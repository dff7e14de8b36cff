import { clientIsLogging } from '../../logger.js';
import type { ConsoleLike } from './runtimeGlobals.js';
import { formatConsoleArgs } from './formatConsoleArgs.js';
import { subscribePatch } from './sharedPatch.js';
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

interface ConsoleListener {
  readonly add: (crumb: BreadcrumbInput) => void;
  readonly isBusy: () => boolean;
}

const CONSOLE_PATCH = Symbol('homing.console');

/**
 * Records console calls as breadcrumbs, then calls the original method unchanged. `isBusy`
 * is true while the tracker itself is working (including when its logger prints), so its
 * own output never becomes a breadcrumb and never recurses. Every tracker of the process
 * listens through one wrapper per method (`subscribePatch`), so they never stack up. Returns
 * the uninstall function: the last tracker out puts the method back; a method someone else
 * wrapped after us is left in place and our layer just passes through, since removing it would
 * drop theirs.
 */
export function instrumentConsole(
  target: ConsoleLike,
  methods: readonly ConsoleMethod[],
  add: (crumb: BreadcrumbInput) => void,
  isBusy: () => boolean,
): () => void {
  const listener: ConsoleListener = { add, isBusy };
  const leave = methods.map((method) =>
    subscribePatch<ConsoleListener>(
      target,
      method,
      CONSOLE_PATCH,
      listener,
      (original, listeners) =>
        function (this: unknown, ...args: unknown[]): unknown {
          if (clientIsLogging()) return original.apply(this, args);
          let message: string | undefined;
          for (const l of listeners) {
            if (l.isBusy()) continue;
            try {
              message ??= formatConsoleArgs(args);
              l.add({ category: 'console', level: LEVELS[method], message, data: { method } });
            } catch {
              // A breadcrumb is never worth breaking the app's logging.
            }
          }
          return original.apply(this, args);
        },
    ),
  );
  return () => {
    for (const off of leave) off();
  };
}
