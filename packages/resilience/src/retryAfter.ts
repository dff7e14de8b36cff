import { ConfigError } from './errors.js';

/**
 * Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3) into a delay in milliseconds.
 *
 * - delta-seconds (`"120"`) → 120 000. A fraction (`"1.5"`) is accepted and rounded up to
 *   the next millisecond: the RFC asks for an integer, but some servers send fractions and
 *   waiting a little longer than asked is always safe.
 * - HTTP-date in any of the three forms RFC 9110 §5.6.7 says a recipient must accept
 *   (IMF-fixdate, RFC 850, asctime) → the time left until then; a date in the past → 0.
 * - Anything else (negative numbers, empty strings, garbage, impossible dates) → `undefined`,
 *   so the caller falls back to its own backoff.
 *
 * Huge values are returned as they are (capping is the caller's job), but never `Infinity`
 * or `NaN`: an overflowing value is clamped to `Number.MAX_SAFE_INTEGER`.
 *
 * Dates are parsed by a strict grammar, not `Date.parse`, which reads garbage such as `"1"`
 * or `"soon 5"` as a date.
 */
export function parseRetryAfter(
  value: string | readonly string[] | number | null | undefined,
  nowMs?: number,
): number | undefined {
  if (nowMs !== undefined && (typeof nowMs !== 'number' || !Number.isFinite(nowMs))) {
    throw new ConfigError('nowMs', 'must be a finite number of milliseconds since the epoch');
  }
  let raw: unknown = value;
  if (Array.isArray(raw)) raw = raw[0];
  if (typeof raw === 'number') {
    return Number.isFinite(raw) && raw >= 0 ? clamp(Math.ceil(raw * 1000)) : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (DELTA_SECONDS.test(text)) return clamp(Math.ceil(Number(text) * 1000));
  const now = nowMs ?? Date.now();
  const at = parseHttpDate(text, now);
  if (at === undefined) return undefined;
  return Math.max(0, clamp(Math.ceil(at - now)));
}

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) into epoch milliseconds, or `undefined` when the
 * text is not one. `nowMs` resolves the two-digit year of the obsolete RFC 850 form.
 */
export function parseHttpDate(text: string, nowMs: number = Date.now()): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[4]), m[3]!, Number(m[2]), m[5]!, m[6]!, m[7]!);
  m = RFC850_DATE.exec(text);
  if (m) {
    // RFC 9110: a two-digit year that looks more than 50 years ahead is in the past century.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[4]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[3]!, Number(m[2]), m[5]!, m[6]!, m[7]!);
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[7]), m[2]!, Number(m[3]!.trim()), m[4]!, m[5]!, m[6]!);
  return undefined;
}

const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;
const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// Day and month names are matched case-insensitively: stricter than needed buys nothing.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function utc(
  year: number,
  monthName: string,
  day: number,
  hh: string,
  mm: string,
  ss: string,
): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const hours = Number(hh);
  const minutes = Number(mm);
  const seconds = Number(ss);
  if (hours > 23 || minutes > 59 || seconds > 60 || day < 1) return undefined;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // A day the month does not have ("31 Feb") rolls into the next month: it does not exist.
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  // 60 seconds is a leap second; setUTCHours rolls it into the next minute, which is right.
  return date.setUTCHours(hours, minutes, seconds, 0);
}

function clamp(ms: number): number {
  return ms > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : ms;
}
