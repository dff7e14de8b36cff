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

/** Longest token at a cut that is dropped whole (a JWT, an API key, a URL): longer ones are blobs. */
const MAX_CUT_TOKEN = 4096;
/** Groups of a number written with spaces or dashes (a card, an IBAN, a phone), at most. */
const MAX_CUT_GROUPS = 10;

/**
 * `s` cut to at most `max` UTF-16 units, as `cutText`, and then without what the cut left
 * partial: redaction runs after the cut and finds a secret only whole, so the part of one at the
 * cut went out as it was (`john.smith@exam`, the first 12 digits of a card, a JWT's header and
 * payload, a private key whose END line was past the cut). Dropped: the run of characters the
 * cut went through, the groups of a spaced number before it (`4111 1111 1111`,
 * `DE89 3704 0044 053`), and a PEM block that lost its end.
 */
export function cutClear(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = cutText(s, max).length;
  // The run the cut went through, unless the cut fell right at its end.
  if (!isSpace(s.charCodeAt(end))) {
    let i = end;
    while (i > 0 && !isSpace(s.charCodeAt(i - 1)) && end - i < MAX_CUT_TOKEN) i--;
    // Not when it is all there is: a name of one long word would be left empty.
    if (i > 0 && isSpace(s.charCodeAt(i - 1))) end = i;
  }
  // Then whole groups of a number spaced out before it: a few characters each, one a digit.
  for (let groups = 0; groups < MAX_CUT_GROUPS; groups++) {
    let i = end;
    while (i > 0 && isSpace(s.charCodeAt(i - 1)) && end - i < 2) i--;
    const groupEnd = i;
    let digit = false;
    while (i > 0 && groupEnd - i < 6 && isGroupChar(s.charCodeAt(i - 1))) {
      if (isDigit(s.charCodeAt(i - 1))) digit = true;
      i--;
    }
    if (!digit || i === groupEnd || (i > 0 && !isSpace(s.charCodeAt(i - 1)) && s[i - 1] !== '-')) break;
    end = i;
  }
  let out = s.slice(0, end);
  const begin = out.lastIndexOf('-----BEGIN');
  if (begin >= 0 && !out.includes('-----END', begin)) out = out.slice(0, begin);
  // Never nothing but blanks: a name of digit groups would be left empty.
  return out.trim() === '' ? cutText(s, max) : out;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** A character of a group of a spaced-out number: letters (an IBAN's country), digits, `+ ( ) .`. */
function isGroupChar(code: number): boolean {
  return (
    isDigit(code) ||
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    code === 43 ||
    code === 40 ||
    code === 41 ||
    code === 46
  );
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
