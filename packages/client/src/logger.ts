import { isThenable } from './isThenable.js';

/** Where the client's debug output goes. Silent by default: failures never print unless asked. */
export interface Logger {
  debug(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, warn() {}, error() {} };

/**
 * The app's logger behind a guard: the client logs from inside `track()` and from its catch
 * blocks, so a logger that throws would otherwise throw into the app through calls that must not.
 * A logger's failure is dropped; there is nowhere better to report it: a throw, or the rejection
 * of the promise an async logger answers (unhandled, it ended a Node process).
 *
 * A line the logger's own call causes (a logger that forwards lines to `track()`, whose drop
 * after `shutdown()` logs again) is left out: passed on, it looped until the stack ran out.
 */
export function guardedLogger(logger: Logger): Logger {
  if (logger === silentLogger) return logger;
  let calling = false;
  const call =
    (level: keyof Logger) =>
    (message: string, details?: Record<string, unknown>): void => {
      if (calling) return;
      calling = true;
      loggerDepth++;
      try {
        // Without details, one argument: `logger: console` printed "… undefined".
        const answer: unknown =
          details === undefined ? logger[level](message) : logger[level](message, details);
        if (isThenable(answer)) Promise.resolve(answer).then(undefined, ignore);
      } catch {
      } finally {
        loggerDepth--;
        calling = false;
      }
    };
  return { debug: call('debug'), warn: call('warn'), error: call('error') };
}

const ignore = (): void => undefined;

/** Calls into a client's logger under way (see `clientIsLogging`). */
let loggerDepth = 0;

/**
 * Whether what reaches the console now is a Homing client's own log line (`HOMING_DEBUG=1`, or an
 * app logger that prints): the console breadcrumbs leave it out, as they do the error tracker's
 * own, so the client's warnings never turn up in the app's `$exception` breadcrumbs.
 */
export function clientIsLogging(): boolean {
  return loggerDepth > 0;
}

/**
 * The logger `HOMING_DEBUG=1` turns on. On Node every level goes to stderr: Node's
 * `console.debug` writes to stdout, which is an MCP server's or a JSON-lines CLI's protocol
 * channel, and one debug line there breaks its peer. Browsers keep `console.debug` (verbose).
 */
export function consoleLogger(prefix = '[homing]'): Logger {
  const onNode =
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
    'string';
  const debug = onNode ? console.error : console.debug;
  return {
    debug: (message, details) => debug(prefix, message, details ?? ''),
    warn: (message, details) => console.warn(prefix, message, details ?? ''),
    error: (message, details) => console.error(prefix, message, details ?? ''),
  };
}

/**
 * `logger` with each warning text printed at most once per `intervalMs`; the next one after a
 * quiet spell says how many were left out. For a condition met on every write (a full
 * localStorage: every group, ten times a second), whose drops are counted anyway.
 */
export function throttledWarnings(logger: Logger, intervalMs: number, now: () => number): Logger {
  if (logger === silentLogger) return logger;
  const last = new Map<string, { atMs: number; skipped: number }>();
  return {
    debug: (message, details) => logger.debug(message, details),
    error: (message, details) => logger.error(message, details),
    warn: (message, details) => {
      const at = now();
      const seen = last.get(message);
      if (seen !== undefined && at - seen.atMs < intervalMs && at >= seen.atMs) {
        seen.skipped++;
        return;
      }
      // Bounded: the texts are the client's own, few.
      if (seen === undefined && last.size >= 100) last.clear();
      const skipped = seen?.skipped ?? 0;
      last.set(message, { atMs: at, skipped: 0 });
      logger.warn(message, skipped > 0 ? { ...details, alsoSinceLastLine: skipped } : details);
    },
  };
}
