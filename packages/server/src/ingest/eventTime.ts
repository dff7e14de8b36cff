import { parseIsoMs } from '../store/parse-iso.js';
import { formatIso } from './formatIso.js';

/** Largest |ms| a Date holds (±100 000 000 days around 1970). */
const MAX_DATE_MS = 8.64e15;

/**
 * A client's timestamp as epoch ms: an ISO 8601 string or a number of ms. undefined when the
 * client sent none, NaN when what it sent is not a date.
 */
export function readTimestamp(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let ms = NaN;
  if (typeof v === 'string') {
    if (v.length <= 64) ms = parseIsoMs(v);
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

/** The corrected ISO timestamp, or null when the correction leaves the range of dates. */
export function correctedIso(originalMs: number, skewMs: number): string | null {
  const ms = originalMs + skewMs;
  return Math.abs(ms) <= MAX_DATE_MS ? formatIso(ms) : null;
}
