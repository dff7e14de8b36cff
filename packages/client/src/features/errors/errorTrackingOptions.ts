import { MAX_DELAY_MS } from '../../maxDelay.js';
import { CONSOLE_METHODS, type ConsoleMethod } from './consoleBreadcrumbs.js';
import { ErrorTrackingOptionError } from './errors.js';
import { isInAppFile } from './isInAppFile.js';
import type { ErrorTrackerGlobals } from './runtimeGlobals.js';

export interface ErrorTrackingOptions {
  /** Breadcrumbs kept, newest win. Default 50; 0 turns breadcrumbs off. */
  maxBreadcrumbs?: number;
  /** Same fingerprint again within this many ms is counted, not sent. Default 60 000; 0 sends every capture. */
  dedupWindowMs?: number;
  /** Groups kept for `getErrorGroups()` (least recently seen evicted). Default 1000. */
  maxGroups?: number;
  /** In-app frames that make up the fingerprint. Default 3. */
  fingerprintFrames?: number;

  /** Record Node `uncaughtException` / browser `error` events. Default false. */
  captureUnhandled?: boolean;
  /** Record unhandled promise rejections. Default: the value of `captureUnhandled`. */
  captureUnhandledRejections?: boolean;
  /**
   * Node: how long a crash waits for `persist()` before it goes ahead. Default 2000.
   * 0: record synchronously and let Node crash at once, byte-for-byte as without Homing.
   */
  persistBeforeCrashMs?: number;

  /** Console calls become breadcrumbs. Default false. */
  consoleBreadcrumbs?: boolean;
  /** Which console methods; default all of debug, info, log, warn, error. */
  consoleMethods?: readonly ConsoleMethod[];
  /** Requests made with the global `fetch` become breadcrumbs. Default false. */
  fetchBreadcrumbs?: boolean;
  /** Browser history navigation becomes breadcrumbs. Default false. */
  navigationBreadcrumbs?: boolean;

  /** Longest error message sent. Default 2048. */
  maxMessageLength?: number;
  /** Longest stack string parsed. Default 65 536. */
  maxStackLength?: number;
  /** Frames sent per error. Default 50. */
  maxFrames?: number;
  /** How deep `cause` / `AggregateError.errors` are followed. Default 5. */
  maxCauseDepth?: number;
  /** Errors in one `$exception_list` (captured + causes + aggregated). Default 10. */
  maxExceptions?: number;

  /** Which frames are the app's own; default: not node_modules, `node:`, native or extensions. */
  isInApp?: (file: string | null) => boolean;
  /** The runtime globals to instrument; default the real ones. Tests and sandboxes pass their own. */
  globals?: ErrorTrackerGlobals;
}

export type ResolvedErrorTrackingOptions = Required<Omit<ErrorTrackingOptions, 'globals'>> & {
  globals: ErrorTrackerGlobals | undefined;
};

export const errorTrackingDefaults = {
  maxBreadcrumbs: 50,
  dedupWindowMs: 60_000,
  maxGroups: 1000,
  fingerprintFrames: 3,
  captureUnhandled: false,
  persistBeforeCrashMs: 2000,
  consoleBreadcrumbs: false,
  consoleMethods: CONSOLE_METHODS,
  fetchBreadcrumbs: false,
  navigationBreadcrumbs: false,
  maxMessageLength: 2048,
  maxStackLength: 65_536,
  maxFrames: 50,
  maxCauseDepth: 5,
  maxExceptions: 10,
  isInApp: isInAppFile,
} as const;

const KNOWN = [...Object.keys(errorTrackingDefaults), 'captureUnhandledRejections', 'globals'];

export function resolveErrorTrackingOptions(
  options: ErrorTrackingOptions = {},
): ResolvedErrorTrackingOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ErrorTrackingOptionError('options', 'must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) throw new ErrorTrackingOptionError(key, 'is not an error tracking option');
  }
  const d = errorTrackingDefaults;
  const captureUnhandled = bool('captureUnhandled', options.captureUnhandled ?? d.captureUnhandled);
  const consoleMethods = options.consoleMethods ?? d.consoleMethods;
  if (!Array.isArray(consoleMethods) || consoleMethods.some((m) => !CONSOLE_METHODS.includes(m))) {
    throw new ErrorTrackingOptionError('consoleMethods', `must be a list of ${CONSOLE_METHODS.join(', ')}`);
  }
  const isInApp = options.isInApp ?? d.isInApp;
  if (typeof isInApp !== 'function') throw new ErrorTrackingOptionError('isInApp', 'must be a function');
  const globals = options.globals;
  if (globals !== undefined && (globals === null || typeof globals !== 'object')) {
    throw new ErrorTrackingOptionError('globals', 'must be an object');
  }
  return {
    maxBreadcrumbs: int('maxBreadcrumbs', options.maxBreadcrumbs ?? d.maxBreadcrumbs, 0, 10_000),
    dedupWindowMs: int('dedupWindowMs', options.dedupWindowMs ?? d.dedupWindowMs, 0, MAX_DELAY_MS),
    maxGroups: int('maxGroups', options.maxGroups ?? d.maxGroups, 0, 1_000_000),
    fingerprintFrames: int('fingerprintFrames', options.fingerprintFrames ?? d.fingerprintFrames, 0, 50),
    captureUnhandled,
    captureUnhandledRejections: bool(
      'captureUnhandledRejections',
      options.captureUnhandledRejections ?? captureUnhandled,
    ),
    persistBeforeCrashMs: int(
      'persistBeforeCrashMs',
      options.persistBeforeCrashMs ?? d.persistBeforeCrashMs,
      0,
      60_000,
    ),
    consoleBreadcrumbs: bool('consoleBreadcrumbs', options.consoleBreadcrumbs ?? d.consoleBreadcrumbs),
    consoleMethods: [...consoleMethods],
    fetchBreadcrumbs: bool('fetchBreadcrumbs', options.fetchBreadcrumbs ?? d.fetchBreadcrumbs),
    navigationBreadcrumbs: bool(
      'navigationBreadcrumbs',
      options.navigationBreadcrumbs ?? d.navigationBreadcrumbs,
    ),
    maxMessageLength: int('maxMessageLength', options.maxMessageLength ?? d.maxMessageLength, 16, 1_000_000),
    maxStackLength: int('maxStackLength', options.maxStackLength ?? d.maxStackLength, 0, 10_000_000),
    maxFrames: int('maxFrames', options.maxFrames ?? d.maxFrames, 0, 1000),
    maxCauseDepth: int('maxCauseDepth', options.maxCauseDepth ?? d.maxCauseDepth, 0, 100),
    maxExceptions: int('maxExceptions', options.maxExceptions ?? d.maxExceptions, 1, 1000),
    isInApp,
    globals,
  };
}

function int(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ErrorTrackingOptionError(option, 'must be an integer');
  }
  if (value < min || value > max)
    throw new ErrorTrackingOptionError(option, `must be between ${min} and ${max}`);
  return value;
}

function bool(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ErrorTrackingOptionError(option, 'must be true or false');
  return value;
}
