import { describeValue } from '../describeValue.js';
import type { Logger } from '../logger.js';
import { isAsyncAnswer } from '../pipeline/syncHook.js';
import { MAX_UUID_MS } from '../pipeline/uuidv7.js';
import { TelemetryOptionError } from './errors.js';

/**
 * The app's `now` clock stamps every event's time and uuid. One in the wrong unit (microseconds:
 * the year 58897) or answering NaN made every event invalid, or wrapped the uuids' 48-bit time;
 * a time the uuid and a `Date` can both carry is Unix milliseconds from 0 to 2^48 − 1.
 */
function isUsableTime(ms: unknown): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms <= MAX_UUID_MS;
}

/** Asked once in `createTelemetry`: a clock that is wrong from the start is the app's mistake. */
export function checkClock(now: () => number): void {
  let ms: unknown;
  try {
    ms = now();
  } catch (error) {
    throw new TelemetryOptionError('now', `threw when called: ${String(error)}`);
  }
  if (!isUsableTime(ms)) {
    // An async clock is refused; its rejection, unhandled, ended the process besides.
    isAsyncAnswer(ms);
    throw new TelemetryOptionError(
      'now',
      `must return Unix time in milliseconds, as Date.now() does (0 to ${MAX_UUID_MS}), got ${describeValue(ms)}`,
    );
  }
}

/** How far from `Date.now()` the first reading may be before it is warned about. */
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * The clock the client uses: the app's, except where it answers a time that is no usable time
 * (or throws) later on: `Date.now()` then, with one warning, so that events still go out.
 *
 * A first reading more than a year from `Date.now()` is warned about, not refused: a clock in
 * seconds (`Date.now() / 1000`) is a usable time, but dates every event in January 1970; tests
 * and replays pass fixed or past clocks on purpose.
 */
export function saneClock(now: () => number, logger: Logger): () => number {
  let warned = false;
  let first = true;
  let reading = false;
  return () => {
    // A reading the clock's own call causes (a clock that tracks: `track()` reads the time) gets
    // Date.now(): calling the app's clock again looped until the stack ran out.
    if (reading) return Date.now();
    reading = true;
    let ms: unknown;
    try {
      ms = now();
    } catch (error) {
      ms = error;
    } finally {
      reading = false;
    }
    if (isUsableTime(ms)) {
      if (first && Math.abs(ms - Date.now()) > YEAR_MS) {
        logger.warn('the `now` clock is more than a year from Date.now(): is it in milliseconds?', {
          got: new Date(ms).toISOString(),
        });
      }
      first = false;
      return ms;
    }
    first = false;
    isAsyncAnswer(ms);
    if (!warned) {
      warned = true;
      logger.warn('the `now` clock answered no usable time; using Date.now() where it does', {
        got: describeValue(ms),
      });
    }
    return Date.now();
  };
}
