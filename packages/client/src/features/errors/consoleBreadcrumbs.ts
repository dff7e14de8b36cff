import type { ConsoleLike } from './runtimeGlobals.js';
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

const MAX_MESSAGE = 1024;

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
          add({ category: 'console', level: LEVELS[method], message: formatArgs(args), data: { method } });
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

function formatArgs(args: readonly unknown[]): string {
  let out = '';
  for (const a of args) {
    if (out.length >= MAX_MESSAGE) break;
    out += (out === '' ? '' : ' ') + formatOne(a);
  }
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

function formatOne(a: unknown): string {
  try {
    if (typeof a === 'string') return a.length > MAX_MESSAGE ? a.slice(0, MAX_MESSAGE) : a;
    if (a instanceof Error) return `${a.name}: ${a.message}`;
    if (typeof a === 'object' && a !== null) {
      const json = JSON.stringify(a);
      return json === undefined ? String(a) : json.slice(0, MAX_MESSAGE);
    }
    return String(a);
  } catch {
    return '[unserializable]'; // cycles, BigInt inside, throwing toJSON
  }
}
