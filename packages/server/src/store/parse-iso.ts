let cachedPrefix = '';
let cachedDayMs = Number.NaN;

/**
 * `Date.parse(s)`, several times faster for the form `toISOString` writes
 * (`YYYY-MM-DDTHH:MM:SS.sssZ`), which is what the server hands the store and what most SDKs
 * send: the date part is parsed once per day (the events of one batch are mostly of one day)
 * and the time of day from its digits. Anything else goes to Date.parse, so the answer is
 * Date.parse's for every string (tested against it). Date.parse cost about 0.2–0.4 µs here,
 * twice per event on the ingest path.
 */
export function parseIsoMs(s: string): number {
  if (
    s.length !== 24 ||
    s.charCodeAt(10) !== 84 || // T
    s.charCodeAt(13) !== 58 || // :
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46 || // .
    s.charCodeAt(23) !== 90 // Z
  ) {
    return Date.parse(s);
  }
  const h = digits(s, 11, 2);
  const m = digits(s, 14, 2);
  const sec = digits(s, 17, 2);
  const ms = digits(s, 20, 3);
  // digits() answers -1 for a non-digit; out-of-range fields are Date.parse's to judge.
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59 || ms < 0) return Date.parse(s);
  if (!s.startsWith(cachedPrefix) || cachedPrefix === '') {
    // Only the strict form: Date.parse's fallback parser reads other prefixes its own way.
    const strict =
      digits(s, 0, 4) >= 0 &&
      s.charCodeAt(4) === 45 && // -
      digits(s, 5, 2) >= 0 &&
      s.charCodeAt(7) === 45 &&
      digits(s, 8, 2) >= 0;
    if (!strict) return Date.parse(s);
    const prefix = s.slice(0, 11);
    const day = Date.parse(`${prefix}00:00:00.000Z`);
    if (!Number.isFinite(day)) return Date.parse(s);
    cachedPrefix = prefix;
    cachedDayMs = day;
  }
  return cachedDayMs + h * 3_600_000 + m * 60_000 + sec * 1000 + ms;
}

/** The decimal number in s[at, at + n), or -1 when one of them is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
