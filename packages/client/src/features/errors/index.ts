export { createErrorTracker } from './createErrorTracker.js';
export {
  errorTrackingDefaults,
  resolveErrorTrackingOptions,
  type ErrorTrackingOptions,
} from './errorTrackingOptions.js';
export { ErrorTrackingOptionError } from './errors.js';
export { parseStack, type ParseStackLimits } from './parseStack.js';
export { normalizeMessage } from './normalizeMessage.js';
export { isInAppFile } from './isInAppFile.js';
export { BrowserScriptError } from './browserUnhandled.js';
export type { ConsoleMethod } from './consoleBreadcrumbs.js';
export type { ErrorTrackerGlobals } from './runtimeGlobals.js';
export {
  SEVERITIES,
  type Breadcrumb,
  type BreadcrumbInput,
  type BreadcrumbLevel,
  type CaptureContext,
  type ErrorGroup,
  type ErrorStats,
  type ErrorTracker,
  type ExceptionEntry,
  type RecoveryDetails,
  type Severity,
  type StackFrame,
} from './types.js';
