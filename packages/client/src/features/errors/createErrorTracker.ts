import { safeClone, type SafeLimits } from '../../pipeline/safeSerialize.js';
import { uuidv7 } from '../../pipeline/uuidv7.js';
import type { FeatureHost } from '../feature.js';
import { BreadcrumbRing } from './BreadcrumbRing.js';
import { hostClock } from '../hostClock.js';
import { instrumentConsole } from './consoleBreadcrumbs.js';
import { DedupWindow, type PendingDuplicates } from './DedupWindow.js';
import { describeError, MAX_LINE_LENGTH, read } from './describeError.js';
import { ErrorGroupTable } from './ErrorGroupTable.js';
import { ErrorStatsCounter } from './ErrorStatsCounter.js';
import { copyFrames, ParsedStackCache } from './ParsedStackCache.js';
import { FingerprintMemo } from './FingerprintMemo.js';
import { RepeatedErrorMemo, type ErrorSummary } from './RepeatedErrorMemo.js';
import { resolveErrorTrackingOptions, type ErrorTrackingOptions } from './errorTrackingOptions.js';
import { instrumentFetch } from './fetchBreadcrumbs.js';
import { computeFingerprint, customFingerprint } from './fingerprint.js';
import { installBrowserUnhandled } from './browserUnhandled.js';
import { instrumentNavigation } from './navigationBreadcrumbs.js';
import { installNodeUnhandled } from './nodeUnhandled.js';
import { detectGlobals } from './runtimeGlobals.js';
import {
  SEVERITIES,
  type Breadcrumb,
  type BreadcrumbInput,
  type BreadcrumbLevel,
  type CaptureContext,
  type ErrorTracker,
  type ExceptionEntry,
  type Severity,
} from './types.js';

const CONTEXT_LIMITS: SafeLimits = { maxDepth: 6, maxStringLength: 2048, maxProperties: 100 };
const CRUMB_DATA_LIMITS: SafeLimits = { maxDepth: 4, maxStringLength: 1024, maxProperties: 50 };
const MAX_TAGS = 50;
const MAX_TAG_LENGTH = 200;
const MAX_CRUMB_MESSAGE = 1024;
const MAX_CATEGORY = 100;
/** Error ids remembered so `trackRecovery` can name the group; older ids still work without it. */
const RECENT_IDS = 1000;
/** Distinct stacks whose parsed frames are kept (a few KB each at most). */
const STACK_CACHE_SIZE = 200;
const LEVELS: readonly BreadcrumbLevel[] = ['debug', 'info', 'warning', 'error'];

interface Mechanism {
  readonly handled: boolean;
  readonly type: string;
}

/** The mechanism of every `captureError` call. */
const MANUAL: Mechanism = Object.freeze({ handled: true, type: 'manual' });

/** Each tracker's way to send its pending duplicate counts, for the client (not public API). */
const duplicateFlushers = new WeakMap<ErrorTracker, () => void>();

/**
 * Sends the duplicate counts `tracker` still holds as `$exception_duplicates`, keeping it open:
 * a process that ends without `close()` (a CLI) would lose them. Never throws.
 */
export function flushPendingDuplicates(tracker: ErrorTracker): void {
  duplicateFlushers.get(tracker)?.();
}

/**
 * Error tracking over a `FeatureHost`: every error becomes a `$exception` event through
 * `host.track`, so it goes through the client's pipeline (consent, sampling, redaction,
 * outbox). Captures never throw into the app: a failure inside is logged and the id returned.
 */
export function createErrorTracker(host: FeatureHost, options?: ErrorTrackingOptions): ErrorTracker {
  const o = resolveErrorTrackingOptions(options);
  const globals = o.globals ?? detectGlobals();
  const limits = {
    maxMessageLength: o.maxMessageLength,
    maxStackLength: o.maxStackLength,
    maxFrames: o.maxFrames,
    maxCauseDepth: o.maxCauseDepth,
    maxExceptions: o.maxExceptions,
  };
  const stacks = new ParsedStackCache(
    STACK_CACHE_SIZE,
    { maxFrames: o.maxFrames, maxLineLength: MAX_LINE_LENGTH },
    o.isInApp,
  );
  const parseCached = (stack: string) => stacks.frames(stack);
  const fingerprints = new FingerprintMemo((entry) => computeFingerprint(entry, o.fingerprintFrames));
  const repeats = new RepeatedErrorMemo();
  const ring = new BreadcrumbRing(o.maxBreadcrumbs);
  const groups = new ErrorGroupTable(o.maxGroups);
  const stats = new ErrorStatsCounter();
  // A ring rather than a Map: written on every capture, read only by trackRecovery.
  const recentIds: string[] = new Array<string>(RECENT_IDS).fill('');
  const recentFingerprints: string[] = new Array<string>(RECENT_IDS).fill('');
  let recentNext = 0;
  let closed = false;

  // While > 0 the tracker is working, and console output (its logger's too) is not a breadcrumb.
  let busy = 0;
  const guarded = <T>(fn: () => T): T => {
    busy++;
    try {
      return fn();
    } finally {
      busy--;
    }
  };
  const log = (level: 'debug' | 'warn' | 'error', message: string, details?: Record<string, unknown>): void =>
    guarded(() => {
      try {
        host.logger[level](message, details);
      } catch {}
    });
  const track = (event: string, properties: Record<string, unknown>): void =>
    guarded(() => {
      try {
        host.track(event, properties);
      } catch (error) {
        log('error', `error tracking: host.track("${event}") threw`, { error: String(error) });
      }
    });
  const onInternalError = (error: unknown): void =>
    log('error', 'error tracking: internal failure', { error: String(error) });
  const now = hostClock(host, (problem) => log('warn', `error tracking: ${problem}`));

  const sendPending = (p: PendingDuplicates): void =>
    track('$exception_duplicates', {
      $exception_fingerprint: p.fingerprint,
      $exception_id: p.lastSentId,
      $exception_suppressed: p.suppressed,
    });
  const dedup = new DedupWindow(o.dedupWindowMs, Math.max(o.maxGroups, 100), sendPending);
  const flushDuplicates = (): void => {
    try {
      dedup.flush();
    } catch (e) {
      onInternalError(e);
    }
  };

  function capture(error: unknown, ctx: unknown, mechanism: Mechanism): string {
    const at = now();
    const errorId = uuidv7(at);
    if (closed) {
      log('warn', 'error tracking: captureError after close() is not recorded', { errorId });
      return errorId;
    }
    // `guarded` without its closure: errors are rare next to requests, so V8 runs this path
    // unoptimised in a loaded server, where each closure and call shows in a capture's cost.
    busy++;
    try {
      fileError(error, ctx, mechanism, errorId, at);
    } catch (e) {
      onInternalError(e);
    } finally {
      busy--;
    }
    return errorId;
  }

  /** Counts the error in its group, and sends it unless it is a duplicate in its dedup window. */
  function fileError(error: unknown, ctx: unknown, mechanism: Mechanism, errorId: string, now: number): void {
    const c = (typeof ctx === 'object' && ctx !== null ? ctx : {}) as Record<string, unknown>;
    const severity = severityOf(read(c, 'severity'), mechanism);
    const custom = fingerprintParts(read(c, 'fingerprint'));
    // Objects only: anything else (functions too) is described by its text, not these.
    const reading = typeof error === 'object' && error !== null ? RepeatedErrorMemo.read(error) : undefined;
    let list: ExceptionEntry[] | undefined;
    let primary: ErrorSummary | undefined =
      custom === null && reading !== undefined ? repeats.recall(reading) : undefined;
    if (primary === undefined) {
      list = describeError(error, limits, o.isInApp, parseCached, reading);
      const first = list[0]!;
      const fingerprint = custom !== null ? customFingerprint(custom) : fingerprints.of(first);
      primary = { type: first.type, value: first.value, fingerprint };
      if (custom === null && reading !== undefined) repeats.remember(reading, primary);
    }
    const fingerprint = primary.fingerprint;
    groups.record(fingerprint, primary.type, primary.value, severity, now);
    remember(errorId, fingerprint);
    // A fatal error is the last thing the process says: never only counted, and it does
    // not open a window (the app may catch, report and rethrow the same error).
    const decision =
      severity === 'fatal'
        ? { send: true as const, suppressedBefore: 0 }
        : dedup.check(fingerprint, errorId, now);
    stats.capture(severity, primary.type, decision.send);
    if (!decision.send) return;
    // A repeat sent (once per dedup window) is described now, from what was read of it.
    list ??= describeError(error, limits, o.isInApp, parseCached, reading);
    for (const entry of list) entry.stacktrace.frames = copyFrames(entry.stacktrace.frames);
    const properties: Record<string, unknown> = {
      $exception_id: errorId,
      $exception_type: primary.type,
      $exception_message: primary.value,
      $exception_list: list,
      $exception_fingerprint: fingerprint,
      $exception_fingerprint_source: custom !== null ? 'custom' : 'computed',
      $exception_level: severity,
      $exception_handled: mechanism.handled,
      $exception_mechanism: mechanism.type,
      $exception_suppressed: decision.suppressedBefore,
      $exception_breadcrumbs: ring.toArray(),
    };
    const tags = cleanTags(read(c, 'tags'));
    if (tags !== undefined) properties['$exception_tags'] = tags;
    const context = cleanObject(read(c, 'context'));
    if (context !== undefined) properties['$exception_context'] = context;
    const user = cleanObject(read(c, 'user'));
    if (user !== undefined) properties['$exception_user'] = user;
    track('$exception', properties);
  }

  function severityOf(value: unknown, mechanism: Mechanism): Severity {
    if (value === undefined) return mechanism.handled ? 'error' : 'fatal';
    if (SEVERITIES.includes(value as Severity)) return value as Severity;
    log('warn', 'error tracking: unknown severity, using "error"', { severity: String(value) });
    return 'error';
  }

  function fingerprintParts(value: unknown): string | string[] | null {
    if (value === undefined || value === null) return null;
    if (typeof value === 'string' && value !== '') return value;
    try {
      if (Array.isArray(value) && value.length > 0 && value.every((p) => typeof p === 'string'))
        return [...value];
    } catch {}
    log(
      'warn',
      'error tracking: fingerprint must be a non-empty string or list of strings; computed one used',
    );
    return null;
  }

  function remember(errorId: string, fingerprint: string): void {
    recentIds[recentNext] = errorId;
    recentFingerprints[recentNext] = fingerprint;
    recentNext = (recentNext + 1) % RECENT_IDS;
  }

  function addBreadcrumb(input: BreadcrumbInput): void {
    if (closed) return;
    try {
      guarded(() => {
        const category = read(input, 'category');
        const message = read(input, 'message');
        if (typeof category !== 'string' || typeof message !== 'string') {
          log('warn', 'error tracking: a breadcrumb needs a string category and message; ignored');
          return;
        }
        const level = read(input, 'level');
        const timestamp = read(input, 'timestamp');
        const crumb: Breadcrumb = {
          category: cut(category, MAX_CATEGORY),
          message: cut(message, MAX_CRUMB_MESSAGE),
          level: LEVELS.includes(level as BreadcrumbLevel) ? (level as BreadcrumbLevel) : 'info',
          timestamp: typeof timestamp === 'number' && Number.isFinite(timestamp) ? timestamp : now(),
        };
        const data = read(input, 'data');
        if (data !== undefined) {
          const clean = safeClone(data, CRUMB_DATA_LIMITS).value;
          if (typeof clean === 'object' && clean !== null && !Array.isArray(clean)) {
            crumb.data = Object.freeze(clean as Record<string, unknown>);
          }
        }
        ring.add(Object.freeze(crumb));
      });
    } catch (e) {
      onInternalError(e);
    }
  }

  function trackRecovery(
    errorId: string,
    recovered: boolean,
    details?: { strategy?: string; attempts?: number },
  ): void {
    if (closed) return;
    try {
      guarded(() => {
        if (typeof errorId !== 'string' || errorId === '' || typeof recovered !== 'boolean') {
          log('warn', 'error tracking: trackRecovery needs an error id and a boolean; ignored');
          return;
        }
        const properties: Record<string, unknown> = { $exception_id: errorId, $recovered: recovered };
        const at = recentIds.indexOf(errorId);
        const fingerprint = at >= 0 ? recentFingerprints[at] : undefined;
        if (fingerprint !== undefined) properties['$exception_fingerprint'] = fingerprint;
        const strategy = read(details, 'strategy');
        if (typeof strategy === 'string') properties['$recovery_strategy'] = cut(strategy, MAX_TAG_LENGTH);
        const attempts = read(details, 'attempts');
        if (typeof attempts === 'number' && Number.isInteger(attempts) && attempts >= 0) {
          properties['$recovery_attempts'] = attempts;
        }
        stats.recovery(recovered);
        track('$exception_recovery', properties);
      });
    } catch (e) {
      onInternalError(e);
    }
  }

  const uninstall: (() => void)[] = [];
  const autoCrumb = (crumb: BreadcrumbInput): void => addBreadcrumb(crumb);
  if (o.consoleBreadcrumbs && globals.console !== undefined) {
    uninstall.push(instrumentConsole(globals.console, o.consoleMethods, autoCrumb, () => busy > 0));
  }
  if (o.fetchBreadcrumbs && globals.fetchOwner !== undefined) {
    uninstall.push(instrumentFetch(globals.fetchOwner, autoCrumb, now));
  }
  if (o.navigationBreadcrumbs && globals.window !== undefined) {
    uninstall.push(instrumentNavigation(globals.window, autoCrumb));
  }
  if (o.captureUnhandled || o.captureUnhandledRejections) {
    // A storage that cannot keep events (full, refused, a page's memory stand-in) is the
    // client's to report (stats().lastError, its own warnings), not a failure of error tracking:
    // logged at error level, a page without storage printed one on every uncaught error.
    const persist = async (): Promise<void> => {
      try {
        await host.persist();
      } catch (error) {
        log('debug', 'error tracking: storing the captured error failed', { error: String(error) });
      }
    };
    // A page's errors arrive at its window, a worker's at its own global scope.
    const browserScope = globals.window ?? globals.workerScope;
    if (globals.process !== undefined) {
      uninstall.push(
        installNodeUnhandled(globals.process, {
          record: (error, origin, fatal) => {
            capture(error, { severity: fatal ? 'fatal' : 'error' }, { handled: false, type: origin });
            // The process is about to die and close() will not run: counts still held by the
            // dedup window go out now, before the crash path's persist().
            if (fatal) flushDuplicates();
          },
          persist,
          persistBeforeCrashMs: o.persistBeforeCrashMs,
          captureExceptions: o.captureUnhandled,
          captureRejections: o.captureUnhandledRejections,
          onInternalError,
        }),
      );
    } else if (browserScope !== undefined) {
      uninstall.push(
        installBrowserUnhandled(browserScope, {
          record: (error, origin) => capture(error, { severity: 'error' }, { handled: false, type: origin }),
          persist,
          captureErrors: o.captureUnhandled,
          captureRejections: o.captureUnhandledRejections,
          onInternalError,
        }),
      );
    }
  }

  const tracker: ErrorTracker = {
    captureError: (error, context) => capture(error, context, MANUAL),
    addBreadcrumb,
    getBreadcrumbs: () => ring.toArray(),
    trackRecovery,
    getErrorGroups: () => groups.list(),
    getStats: () => stats.snapshot(groups.size),
    async close() {
      if (closed) return;
      for (const undo of uninstall.splice(0)) {
        try {
          undo();
        } catch (e) {
          onInternalError(e);
        }
      }
      dedup.flush();
      closed = true;
    },
  };
  duplicateFlushers.set(tracker, flushDuplicates);
  return tracker;
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function cleanObject(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  const clean = safeClone(value, CONTEXT_LIMITS).value;
  return typeof clean === 'object' && clean !== null && !Array.isArray(clean)
    ? (clean as Record<string, unknown>)
    : { value: clean };
}

function cleanTags(value: unknown): CaptureContext['tags'] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, string | number | boolean> = {};
  let keys: string[];
  try {
    keys = Object.keys(value).slice(0, MAX_TAGS);
  } catch {
    return undefined;
  }
  for (const k of keys) {
    const v = read(value, k);
    if (typeof v === 'string') out[cut(k, MAX_TAG_LENGTH)] = cut(v, MAX_TAG_LENGTH);
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean')
      out[cut(k, MAX_TAG_LENGTH)] = v;
  }
  return out;
}
