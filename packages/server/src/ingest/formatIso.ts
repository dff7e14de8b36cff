const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00Z: beyond it toISOString uses the six-digit year form. */
const YEAR_10000_MS = 253_402_300_800_000;
let cachedDay = Number.NaN;
/** Character codes of the cached day's `YYYY-MM-DDT`. */
let p: number[] = [];

/**
 * `new Date(ms).toISOString()`, several times faster: the date part is formatted once per day
 * (the events of one batch are mostly of one day) and the time of day from its digits.
 * toISOString costs about 1–2 µs here, which at two per event was the largest cost of
 * normalising a batch. The string is built flat in one step (String.fromCharCode): a
 * concatenated one is a rope that V8 copies again the first time anything reads it (the
 * store parses it back, SQLite's binding writes it). Same output for every integer ms
 * (tested against toISOString).
 */
export function formatIso(ms: number): string {
  if (!(ms >= 0 && ms < YEAR_10000_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    const prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    p = Array.from(prefix, (c) => c.charCodeAt(0));
    cachedDay = day;
  }
  let rem = ms - day * DAY_MS;
  const h = Math.floor(rem / 3_600_000);
  rem -= h * 3_600_000;
  const m = Math.floor(rem / 60_000);
  rem -= m * 60_000;
  const s = Math.floor(rem / 1000);
  rem -= s * 1000;
  const ms100 = Math.floor(rem / 100);
  const ms10 = Math.floor(rem / 10) % 10;
  return String.fromCharCode(
    p[0]!,
    p[1]!,
    p[2]!,
    p[3]!,
    p[4]!,
    p[5]!,
    p[6]!,
    p[7]!,
    p[8]!,
    p[9]!,
    p[10]!,
    48 + Math.floor(h / 10),
    48 + (h % 10),
    58,
    48 + Math.floor(m / 10),
    48 + (m % 10),
    58,
    48 + Math.floor(s / 10),
    48 + (s % 10),
    46,
    48 + ms100,
    48 + ms10,
    48 + (rem % 10),
    90,
  );
}
