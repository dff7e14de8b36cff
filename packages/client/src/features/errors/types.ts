import type { Feature } from '../feature.js';

/** How bad an error is, lowest first. */
export type Severity = 'debug' | 'info' | 'warning' | 'error' | 'fatal';

export const SEVERITIES: readonly Severity[] = ['debug', 'info', 'warning', 'error', 'fatal'];

/** One line of a parsed stack trace, innermost call first. */
export interface StackFrame {
  /** Path or URL as the engine printed it; null for native / anonymous code. */
  file: string | null;
  line: number | null;
  column: number | null;
  /** Function name as printed (`Foo.bar`, `new Foo`, `bar/<`); null when anonymous. */
  function: string | null;
  /** false for node_modules, `node:` internals, native code and browser extensions. */
  inApp: boolean;
}

/** One error of `$exception_list`: the captured error first, then its causes and aggregated errors. */
export interface ExceptionEntry {
  type: string;
  value: string;
  stacktrace: { type: 'parsed'; frames: StackFrame[] };
  mechanism: {
    /** `generic` for the captured error, `cause` or `aggregate` for the ones reached from it. */
    type: 'generic' | 'cause' | 'aggregate';
    /** true when the value thrown was not an Error (a string, a plain object, null). */
    synthetic: boolean;
    /** Index of this entry in the list, and of the entry it was reached from. */
    exception_id: number;
    parent_id?: number;
    /** `cause` or `errors[3]`: the property of the parent it was read from. */
    source?: string;
  };
}

export type BreadcrumbLevel = 'debug' | 'info' | 'warning' | 'error';

export interface Breadcrumb {
  /** `console`, `fetch`, `navigation`, or the app's own (`ui.click`, `auth`). */
  category: string;
  message: string;
  level: BreadcrumbLevel;
  data?: Record<string, unknown>;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** What `addBreadcrumb` accepts: the timestamp and level are filled in when missing. */
export interface BreadcrumbInput {
  category: string;
  message: string;
  level?: BreadcrumbLevel;
  data?: Record<string, unknown>;
  timestamp?: number;
}

export interface CaptureContext {
  severity?: Severity;
  /** Free-form details of where it happened (`{ endpoint: '/api/chat' }`); copied, never kept by reference. */
  context?: Record<string, unknown>;
  /** Short searchable labels (`{ feature: 'export' }`); values are strings, numbers or booleans. */
  tags?: Record<string, string | number | boolean>;
  user?: Record<string, unknown>;
  /** Overrides the computed grouping: errors with the same fingerprint are one group. */
  fingerprint?: string | readonly string[];
}

export interface RecoveryDetails {
  strategy?: string;
  attempts?: number;
}

export interface ErrorGroup {
  fingerprint: string;
  type: string;
  /** The message of the first error seen in the group. */
  message: string;
  count: number;
  /** Milliseconds since the epoch. */
  firstSeen: number;
  lastSeen: number;
  /** The highest severity seen in the group. */
  severity: Severity;
}

export interface ErrorStats {
  /** Every capture, including the ones dedup kept from being sent. */
  totalErrors: number;
  /** Groups currently kept (at most `maxGroups`). */
  uniqueGroups: number;
  /** Captures dedup counted instead of sending. */
  suppressed: number;
  bySeverity: Record<Severity, number>;
  /** Per error type; past 100 types the rest count under `(other)`. */
  byType: Record<string, number>;
  recoveryAttempts: number;
  recovered: number;
  /** recovered / recoveryAttempts, 0 when nothing was tracked. */
  recoveryRate: number;
}

export interface ErrorTracker extends Feature {
  /** Records an error of any kind (Error, string, object, null); returns its id. Never throws. */
  captureError(error: unknown, context?: CaptureContext): string;
  addBreadcrumb(breadcrumb: BreadcrumbInput): void;
  /** A copy of the current breadcrumbs, oldest first. */
  getBreadcrumbs(): Breadcrumb[];
  /** Sends `$exception_recovery` for an error id `captureError` returned. Never throws. */
  trackRecovery(errorId: string, recovered: boolean, details?: RecoveryDetails): void;
  /** Groups by count, highest first. */
  getErrorGroups(): ErrorGroup[];
  getStats(): ErrorStats;
  /** Restores wrapped globals, removes listeners and sends the pending duplicate counts. */
  close(): Promise<void>;
}
