/**
 * A string's character profile, taken in one pass, and what each pattern needs of it: a string
 * that cannot hold a pattern is never scanned by its regex.
 */
/** What one pass over the string learned, so patterns that cannot match are skipped. */
export interface StringProfile {
  digits: number;
  dots: number;
  colons: number;
  at: boolean;
  /** `=` or `:` (every `key=value` secret has one). */
  assign: boolean;
  /** The ASCII letters in the string, either case: bit 0 for `a` … bit 25 for `z`. */
  letters: number;
  /** Capital ASCII letters (an IBAN starts with two). */
  capitals: number;
  /** `-` (a command-line flag starts with two). */
  dashes: number;
  /** `_`, `-` or a capital ASCII letter: every vendor key shape has one. */
  keyMark: boolean;
  /** `%` or `\`: the string may hold escaped text (see escapedText.ts). */
  escapes: boolean;
}

export function profileString(s: string, into: StringProfile): StringProfile {
  let digits = 0;
  let dots = 0;
  let colons = 0;
  let at = false;
  let assign = false;
  let letters = 0;
  let capitals = 0;
  let dashes = 0;
  let keyMark = false;
  let escapes = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const lower = c | 32;
    if (lower >= 97 && lower <= 122) {
      letters |= 1 << (lower - 97);
      if (c < 97) capitals++;
    } else if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 58) {
      colons++;
      assign = true;
    } else if (c === 64) at = true;
    else if (c === 37) {
      escapes = true;
      if (s.charCodeAt(i + 1) === 52 && s.charCodeAt(i + 2) === 48) at = true; // %40
    } else if (c === 61) assign = true;
    else if (c === 45) dashes++;
    else if (c === 95) keyMark = true;
    else if (c === 92) escapes = true;
  }
  into.digits = digits;
  into.dots = dots;
  into.colons = colons;
  into.at = at;
  into.assign = assign;
  into.letters = letters;
  into.capitals = capitals;
  into.dashes = dashes;
  into.keyMark = keyMark || capitals > 0 || dashes > 0;
  into.escapes = escapes;
  return into;
}

/** The letters mask (`StringProfile.letters`) of every ASCII letter in `word`. */
export function lettersOf(word: string): number {
  let mask = 0;
  for (const ch of word.toLowerCase()) {
    const c = ch.charCodeAt(0);
    if (c >= 97 && c <= 122) mask |= 1 << (c - 97);
  }
  return mask;
}

/** What a string must have for the pattern to be able to match it (checked before the regex). */
export interface PatternNeeds {
  length: number;
  digits: number;
  dots: number;
  colons: number;
  at: boolean;
  assign: boolean;
  /** Every one of these letters (a `lettersOf` mask), in either case. */
  letters: number;
  capitals: number;
  dashes: number;
  keyMark: boolean;
}

/** `needs` with every field set (what was left out asks for nothing). */
export function resolveNeeds(needs: Partial<PatternNeeds>): PatternNeeds {
  return {
    length: needs.length ?? 1,
    digits: needs.digits ?? 0,
    dots: needs.dots ?? 0,
    colons: needs.colons ?? 0,
    at: needs.at ?? false,
    assign: needs.assign ?? false,
    letters: needs.letters ?? 0,
    capitals: needs.capitals ?? 0,
    dashes: needs.dashes ?? 0,
    keyMark: needs.keyMark ?? false,
  };
}

/**
 * Whether a pattern with these needs and hint may match `s`, whose profile is `pr`: false rules
 * the regex out without running it. Must never rule out a string the regex would match.
 */
export function admits(
  p: PatternNeeds & { readonly hint?: ((s: string) => boolean) | undefined },
  s: string,
  pr: StringProfile,
): boolean {
  return !(
    s.length < p.length ||
    pr.digits < p.digits ||
    pr.dots < p.dots ||
    pr.colons < p.colons ||
    (p.at && !pr.at) ||
    (p.assign && !pr.assign) ||
    (pr.letters & p.letters) !== p.letters ||
    pr.capitals < p.capitals ||
    pr.dashes < p.dashes ||
    (p.keyMark && !pr.keyMark) ||
    (p.hint !== undefined && !p.hint(s))
  );
}
