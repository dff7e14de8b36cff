import { daysInMonth, parseIsoMs } from '../store/parse-iso.js';
import { formatIso } from './formatIso.js';

/** Largest |ms| a Date holds (±100 000 000 days around 1970). */
const MAX_DATE_MS = 8.64e15;

/**
 * How far after the server's receive time an event's (corrected) timestamp may lie. Later is an
 * instrumentation bug (a clock years ahead, microseconds sent as milliseconds): the event is
 * kept at its receive time, as PostHog does past the same 23 h, with the client's own timestamp
 * in `originalTimestamp`. Kept as sent, such an event would outlive every retention period.
 */
export const MAX_FUTURE_MS = 23 * 3_600_000;

/** Why `readTimestamp` refused a timestamp, as named per event in the answer. */
export const TIMESTAMP_FORMAT_ERROR =
  'timestamp must be an ISO 8601 date or date-time (2026-01-31, 2026-01-31T12:00:00.000Z, ' +
  '2026-01-31T13:00:00+01:00) or epoch milliseconds';

const DATE_TIME_SHAPE = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?)?/;

/**
 * Why a timestamp shaped like an ISO 8601 date-time is not a date of the calendar (February 30,
 * hour 24, a leap second), or null when that is not what is wrong with it: the refusal then
 * says which part, not only which forms are accepted.
 */
export function calendarProblem(text: string): string | null {
  const m = DATE_TIME_SHAPE.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12) return `there is no month ${m[2]}`;
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) return `${m[1]}-${m[2]} has no day ${m[3]} (it has ${days})`;
  if (m[4] !== undefined && Number(m[4]) > 23) return `hour ${m[4]} is not a time of day (00 to 23)`;
  if (m[5] !== undefined && Number(m[5]) > 59) return `minute ${m[5]} does not exist (00 to 59)`;
  if (m[6] !== undefined && Number(m[6]) > 59)
    return `second ${m[6]} does not exist (00 to 59; leap seconds are not kept)`;
  return null;
}

/**
 * A client's timestamp as epoch ms: an ISO 8601 string (strictly: see parseIsoMs) or a number
 * of ms. undefined when the client sent none, NaN when what it sent is not a date.
 */
export function readTimestamp(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let ms = NaN;
  if (typeof v === 'string') {
    ms = parseIsoMs(v);
  } else if (typeof v === 'number') {
    // A Date keeps whole milliseconds (truncated toward zero).
    ms = Math.trunc(v);
  }
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? ms : NaN;
}

/**
 * How far the client's clock is behind the server's: receive time minus the batch's
 * `sent_at`/`sentAt`. 0 when the batch carries none or it is not a date, so nothing is
 * corrected. Includes the network's transit time, as PostHog's correction does.
 */
export function clockSkewMs(sentAt: unknown, receivedMs: number): number {
  const sent = readTimestamp(sentAt);
  return sent === undefined || Number.isNaN(sent) ? 0 : receivedMs - sent;
}

/**
 * How much older than its receive time a clock-skew correction may make an event. The
 * correction moves the event to receive time minus its age on the client's clock (`sent_at`
 * minus `timestamp`); an age over this is not a queue that waited, but a `sent_at` in other
 * units (microseconds) or from another clock (year 9999), and would date the event thousands of
 * years back, where the first retention run deletes it although its 202 said it was stored.
 */
export const MAX_CORRECTED_AGE_MS = 366 * 86_400_000;

/** Where an event is put in time: see eventTime. */
export interface EventTime {
  /** The timestamp to store, ISO 8601. */
  iso: string;
  /**
   * Set when the event is dated before the retention period: when it happened by the client's
   * clock (after the skew correction), epoch ms. `iso` is then the receive time.
   */
  beforeRetentionMs?: number;
}

/**
 * The event's timestamp: the client's corrected for clock skew, or the receive time when that
 * lies more than MAX_FUTURE_MS ahead of it (checked after the correction, so a client whose
 * whole clock is ahead is corrected, not replaced). A correction that would date the event more
 * than MAX_CORRECTED_AGE_MS before its receive time, or more than MAX_FUTURE_MS after it, is not
 * applied: the client's own timestamp is kept (under the same bounds). The second is a `sent_at`
 * from a clock reset to 1970 since the event was tracked, or in seconds: applied, it moved an
 * event tracked hours before to the receive time, and an erased person's event queued before
 * the erasure was then judged as sent after it and stored again. With a retention period (`retentionMs` > 0), a timestamp
 * already older than it is replaced by the receive time too: a clock reset to 1970 (a dead RTC
 * battery) or year 1 would otherwise be answered "stored" and deleted by the next retention run.
 * Its own time is answered beside (`beforeRetentionMs`): an erasure judges the event by it (it
 * happened before the erasure, however late it arrives), and a sender that asserts its
 * timestamps (an import) has the event refused rather than moved to the present.
 */
export function eventTime(
  originalMs: number,
  skewMs: number,
  receivedMs: number,
  retentionMs = 0,
): EventTime {
  let ms = originalMs + skewMs;
  // Either way past its bounds, the correction is what is wrong, not the event's own time.
  if (ms < receivedMs - MAX_CORRECTED_AGE_MS || ms > receivedMs + MAX_FUTURE_MS) ms = originalMs;
  if (ms > receivedMs + MAX_FUTURE_MS) return { iso: formatIso(receivedMs) };
  if (retentionMs > 0 && ms < receivedMs - retentionMs) {
    return { iso: formatIso(receivedMs), beforeRetentionMs: ms };
  }
  return { iso: formatIso(ms) };
}

/** The retention period as people say it: whole days, else seconds (tests run with seconds). */
export function retentionPeriodText(retentionMs: number): string {
  const days = retentionMs / 86_400_000;
  if (Number.isInteger(days)) return days === 1 ? '1 day' : `${days} days`;
  return `${retentionMs / 1000} s`;
}
