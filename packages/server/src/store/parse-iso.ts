/** Largest |ms| a Date holds (±100 000 000 days around 1970). */
const MAX_DATE_MS = 8.64e15;
const DAY_MS = 86_400_000;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * An ISO 8601 date or date-time as epoch ms, or NaN for anything else. Strict, unlike
 * `Date.parse`, whose fallback reads "12" as 2001-12-01, "hello 5" as a May date and
 * 2026-02-30 as March 2. Accepted:
 * - a date `YYYY-MM-DD` (midnight UTC), or with the expanded year `±YYYYYY-MM-DD` that
 *   `toISOString` writes outside years 0–9999;
 * - a date-time `<date>THH:MM[:SS[.fraction]][zone]`: `T`, `t` or a space between (RFC 3339),
 *   1–9 fraction digits (truncated to ms), zone `Z`, `z`, `±HH:MM`, `±HHMM` or `±HH`. A
 *   date-time without a zone is taken as UTC (as PostHog, whose servers run in UTC, takes it),
 *   never as this server's local time.
 * The calendar is checked (no February 30, no hour 24, no leap second 60) and the result is
 * within a Date's range. `subMs: 'ceil'` rounds a fraction finer than a millisecond up instead
 * of truncating it: for a bound (since, until) compared with whole-millisecond times,
 * `t >= x` is `t >= ceil(x)` and `t < x` is `t < ceil(x)`, exactly. About as fast as the form-specific fast path it replaced: it reads
 * the characters once and computes the day arithmetically.
 */
export function parseIsoMs(s: string, subMs: 'truncate' | 'ceil' = 'truncate'): number {
  const n = s.length;
  if (n < 10 || n > 64) return NaN;
  let i = 0;
  let year: number;
  const c0 = s.charCodeAt(0);
  if (c0 === 43 || c0 === 45) {
    // + or -: the expanded year, six digits; -000000 is not a year (ECMAScript).
    year = digits(s, 1, 6);
    if (year < 0 || (c0 === 45 && year === 0)) return NaN;
    if (c0 === 45) year = -year;
    i = 7;
  } else {
    year = digits(s, 0, 4);
    if (year < 0) return NaN;
    i = 4;
  }
  if (s.charCodeAt(i) !== 45 || s.charCodeAt(i + 3) !== 45) return NaN;
  const month = digits(s, i + 1, 2);
  const day = digits(s, i + 4, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  i += 6;
  let ms = daysFromCivil(year, month, day) * DAY_MS;
  if (i < n) {
    const sep = s.charCodeAt(i);
    if (sep !== 84 && sep !== 116 && sep !== 32) return NaN; // T, t, space
    const h = digits(s, i + 1, 2);
    const m = digits(s, i + 4, 2);
    if (s.charCodeAt(i + 3) !== 58 || h < 0 || h > 23 || m < 0 || m > 59) return NaN;
    ms += h * 3_600_000 + m * 60_000;
    i += 6;
    if (s.charCodeAt(i) === 58) {
      const sec = digits(s, i + 1, 2);
      if (sec < 0 || sec > 59) return NaN;
      ms += sec * 1000;
      i += 3;
      if (s.charCodeAt(i) === 46) {
        // Fraction: the first three digits are the ms, further ones (up to nine) are dropped
        // (or, with subMs 'ceil', round the ms up when one of them is not 0).
        let f = 0;
        let k = 0;
        let finer = false;
        for (i++; k < 9 && i < n; k++, i++) {
          const d = s.charCodeAt(i) - 48;
          if (d < 0 || d > 9) break;
          if (k < 3) f = f * 10 + d;
          else if (d !== 0) finer = true;
        }
        if (k === 0) return NaN;
        ms += k === 1 ? f * 100 : k === 2 ? f * 10 : f;
        if (finer && subMs === 'ceil') ms += 1;
      }
    }
    if (i < n) {
      const z = s.charCodeAt(i);
      if (z === 90 || z === 122) {
        i++;
      } else if (z === 43 || z === 45) {
        const oh = digits(s, i + 1, 2);
        if (oh < 0 || oh > 23) return NaN;
        let om = 0;
        i += 3;
        if (i < n) {
          if (s.charCodeAt(i) === 58) i++;
          om = digits(s, i, 2);
          if (om < 0 || om > 59) return NaN;
          i += 2;
        }
        const offset = oh * 3_600_000 + om * 60_000;
        ms += z === 43 ? -offset : offset;
      } else {
        return NaN;
      }
      if (i !== n) return NaN;
    }
  }
  return Math.abs(ms) <= MAX_DATE_MS ? ms : NaN;
}

export function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return leap ? 29 : 28;
}

/** Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The decimal number in s[at, at + n), or -1 when one of them is not a digit (or is missing). */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    v = v * 10 + d;
  }
  return v;
}
