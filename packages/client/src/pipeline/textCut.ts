/**
 * `s` cut to at most `max` UTF-16 units without splitting a surrogate pair: a cut between the
 * two halves of an emoji left a lone surrogate, which the Homing server refuses in names and ids
 * (the event then dead-lettered for good, a replay no help) and which shows as garbage anywhere.
 */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = max > 0 && isHighSurrogate(s.charCodeAt(max - 1)) ? max - 1 : max;
  return s.slice(0, end);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * `s` with NUL and unpaired surrogates replaced by U+FFFD, as `String#toWellFormed` does for the
 * surrogates. Names and ids holding either are refused by the Homing server (SQLite would change
 * them without a word, PostgreSQL refuses NUL in text).
 */
export function wellFormedText(s: string): string {
  const at = firstFault(s);
  if (at < 0) return s;
  let out = s.slice(0, at);
  for (let i = at; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else out += c === 0 || isHighSurrogate(c) || isLowSurrogate(c) ? '\ufffd' : s[i]!;
  }
  return out;
}

/** Whether `s` holds a NUL or an unpaired surrogate. */
export function hasNulOrLoneSurrogate(s: string): boolean {
  return firstFault(s) >= 0;
}

/** Index of the first NUL or unpaired surrogate, or -1 (a loop: lookbehind is not in every browser). */
function firstFault(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return i;
    if (c < 0xd800 || c > 0xdfff) continue;
    if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) i++;
    else return i;
  }
  return -1;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
