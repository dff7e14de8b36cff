import { unescapedText } from './escapedText.js';
import { cutClear } from './textCut.js';
import type { PiiPattern, PickedSpan } from './piiPatterns.js';
import { BUILTIN_PII_PATTERNS } from './piiPatterns.js';
import type { PatternNeeds, StringProfile } from './stringProfile.js';
import { admits, profileString, resolveNeeds } from './stringProfile.js';
import type { PatternRedactionOptions, ResolvedPatternRedaction } from './redactPatterns.options.js';
import { PatternRedactionOptionError, resolvePatternRedactionOptions } from './redactPatterns.options.js';
import { CleanStringMemo } from './CleanStringMemo.js';
import { KeyListMemo } from './KeyListMemo.js';
import { keyedHash } from './redactHash.js';
import { setOwn } from './safeSerialize.js';
import { isAsyncAnswer } from './syncHook.js';

export type { PiiPatternName } from './piiPatterns.js';
export { PII_PATTERN_NAMES } from './piiPatterns.js';
export type { CustomPiiPattern, PatternRedactionOptions } from './redactPatterns.options.js';
export { DEFAULT_PATTERN_REDACTION, PatternRedactionOptionError } from './redactPatterns.options.js';

const TRUNCATED = '…[truncated]';
/** Levels of escaping undone to look for a secret (see `scanPatterns`). */
const MAX_UNESCAPES = 3;

/** One shape for every pattern, built-in or custom, so the hot loop reads plain fields. */
interface CompiledPattern extends PatternNeeds {
  name: string;
  regex: RegExp;
  hint: ((s: string) => boolean) | undefined;
  pick: PiiPattern['pick'];
}

/**
 * Pattern redaction: a function that returns `value` with the PII inside every string value
 * (emails, cards, IBANs, SSNs, phone numbers, IP addresses, JWTs, bearer tokens, API keys,
 * secrets in `key=value` and command-line flags, passwords and signatures in URLs, the user name
 * of a home directory's path, and the app's own patterns) replaced, walking objects and arrays
 * deeply.
 *
 * It copies on write: what holds no PII is returned as is (the same object, no allocation), and
 * the input is never modified. Built for values `safeClone` made (plain objects and arrays);
 * other objects (Date, Map, class instances) are passed through untouched, and a cycle becomes
 * `[Circular]`. Patterns are compiled once here; a string is first profiled in one pass, and
 * only the patterns its characters allow are run, so most strings cost one loop over their
 * characters. Never throws on any input. Property names are scanned too (an email or an IP
 * address used as a key, as a Map of counts per user becomes), with the patterns alone (not
 * `redact`); two names that become the same text stay two entries (`[REDACTED]`,
 * `[REDACTED]#2`). Replacements never re-match, so redacting twice gives what redacting once
 * gave, but for text escaped more than three levels deep beside a secret found unescaped: the
 * value becomes the unescaped text, whose deeper levels a second pass reaches.
 */
export function createPatternRedactor(options?: PatternRedactionOptions): PatternRedactor {
  const o = resolvePatternRedactionOptions(options);
  const patterns = compile(o);
  const profile: StringProfile = {
    digits: 0,
    dots: 0,
    colons: 0,
    at: false,
    assign: false,
    letters: 0,
    capitals: 0,
    dashes: 0,
    keyMark: false,
    escapes: false,
  };
  const ancestors: object[] = [];
  const clean = new CleanStringMemo();
  // Key lists found clean (no pattern in any key).
  const cleanKeys = new KeyListMemo();

  const replacementOf = (name: string, secret: string): string => {
    if (o.hashKey !== undefined) return keyedHash(secret, o.hashKey);
    return o.labels ? `[REDACTED:${name}]` : o.replacement;
  };

  // What stands for a value that could not be read (and so not checked).
  const failClosed = o.labels
    ? '[REDACTED:unreadable]'
    : o.hashKey === undefined
      ? o.replacement
      : '[REDACTED]';

  const scan = (input: string): string => {
    let s = input;
    // A value cut before (here or by safeClone) ends with the mark and is not cut again, so
    // redacting twice gives what redacting once gave.
    if (
      s.length > o.maxStringLength &&
      !(s.length <= o.maxStringLength + TRUNCATED.length && s.endsWith(TRUNCATED))
    ) {
      s = cutClear(s, o.maxStringLength) + TRUNCATED;
    }
    return scanPatterns(s);
  };

  const scanPatterns = (input: string): string => {
    if (patterns.length === 0 || clean.has(input)) return input;
    let s = scanOnce(input);
    // The profile is still the input's: without a `%` or `\` there is nothing to unescape.
    if (!profile.escapes) {
      if (s === input) clean.add(s);
      return s;
    }
    // A secret written escaped (a URL in another's query, JSON in a string) is looked for as it
    // reads unescaped, up to MAX_UNESCAPES levels deep (a URL in a query of a URL in a query):
    // where one is found, the value is that text, redacted; else it stays as it was written.
    // A bounded loop, not a pass per level the text allows: `%252525…` unescapes one level
    // per pass, and scanning each (recursively) cost a 6 KB value 130 ms and a long key the stack.
    let text = s;
    for (let level = 0; level < MAX_UNESCAPES; level++) {
      const unescaped = unescapedText(text);
      if (unescaped === text) break;
      const redacted = scanOnce(unescaped);
      if (redacted !== unescaped) s = redacted;
      text = redacted;
    }
    if (s === input) clean.add(s);
    return s;
  };

  /** `s` with every pattern's matches replaced, as written. */
  const scanOnce = (input: string): string => {
    let s = input;
    profileString(s, profile);
    const pr = profile;
    for (const p of patterns) {
      if (admits(p, s, pr)) s = replaceAll(s, p);
    }
    return s;
  };

  /**
   * Every match of `p` in `s` replaced, in one pass of the regex: `exec` from where the last
   * match ended. (A `test()` to rule the string out, then `replace()` with a callback, ran the
   * regex over a matching string twice and built an arguments array per match.)
   */
  const replaceAll = (s: string, p: CompiledPattern): string => {
    const re = p.regex;
    re.lastIndex = 0;
    let m = re.exec(s);
    if (m === null) return s;
    let out = '';
    let copied = 0;
    while (m !== null) {
      const match = m[0];
      if (match === '') {
        // An empty match (a custom pattern's) replaces nothing; step past it as replace() does.
        re.lastIndex = advance(s, re.lastIndex, re.unicode);
      } else {
        let replacement: string | null;
        if (p.pick === undefined) replacement = replacementOf(p.name, match);
        else {
          const span: PickedSpan | null = p.pick(match, m);
          replacement = span === null ? null : span.prefix + replacementOf(p.name, span.secret) + span.suffix;
        }
        if (replacement !== null) {
          out += s.slice(copied, m.index) + replacement;
          copied = m.index + match.length;
        }
      }
      m = re.exec(s);
    }
    return copied === 0 ? s : out + s.slice(copied);
  };

  const redactString = (input: string, key: string | undefined): string => {
    const s = scan(input);
    if (o.redact === undefined) return s;
    try {
      const out: unknown = o.redact(s, key);
      if (typeof out === 'string') return out;
      // An async function's Promise: its rejection must not reach the host.
      isAsyncAnswer(out);
      return replacementOf('custom', s);
    } catch {
      return replacementOf('custom', s);
    }
  };

  const walk = (value: unknown, key: string | undefined, depth: number): unknown => {
    if (typeof value === 'string') return redactString(value, key);
    if (value === null || typeof value !== 'object') return value;
    if (!Array.isArray(value)) {
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return value;
    }
    if (ancestors.includes(value)) return '[Circular]';
    if (depth >= o.maxDepth) return '[Depth]';
    ancestors.push(value);
    try {
      return Array.isArray(value)
        ? walkArray(value, key, depth)
        : walkObject(value as Record<string, unknown>, depth);
    } catch {
      // A throwing getter or Proxy trap: nothing under it can be vouched for.
      return failClosed;
    } finally {
      ancestors.pop();
    }
  };

  const walkArray = (list: readonly unknown[], key: string | undefined, depth: number): unknown[] => {
    let out: unknown[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      const next = walk(item, key, depth + 1);
      if (next !== item) {
        out ??= list.slice();
        out[i] = next;
      }
    }
    return out ?? (list as unknown[]);
  };

  const walkObject = (obj: Record<string, unknown>, depth: number): Record<string, unknown> => {
    let out: Record<string, unknown> | undefined;
    const keys = Object.keys(obj);
    // The same keys as an object found clean before: compared by identity as they are read.
    const known = cleanKeys.candidate(keys);
    let keysKnown = known !== undefined || keys.length === 0;
    // for-of with a count: faster than an indexed loop here.
    let i = -1;
    for (const k of keys) {
      i++;
      if (keysKnown && known![i] !== k) keysKnown = false;
      const item = obj[k];
      // Strings straight to the pass, numbers, booleans and null not at all: one call less per
      // value, which pays for the check of the keys.
      let next: unknown;
      if (typeof item === 'string') next = redactString(item, k);
      else if (typeof item === 'object' && item !== null) next = walk(item, k, depth + 1);
      else continue;
      if (next !== item) {
        out ??= { ...obj };
        setOwn(out, k, next);
      }
    }
    if (!keysKnown) {
      for (const k of keys) if (scanPatterns(k) !== k) return withRedactedKeys(out ?? obj, keys);
      cleanKeys.add(keys);
    }
    return out ?? obj;
  };

  /**
   * A copy of `obj` with its keys redacted, in their order. A key left as it was keeps its
   * name; a redacted one that meets another key's name gets `#2`, `#3`, …, so that two emails
   * used as keys stay two entries instead of one overwriting the other.
   */
  const withRedactedKeys = (
    obj: Record<string, unknown>,
    keys: readonly string[],
  ): Record<string, unknown> => {
    const names = keys.map(scanPatterns);
    const taken = new Set<string>();
    for (let i = 0; i < keys.length; i++) if (names[i] === keys[i]) taken.add(keys[i]!);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      let name = names[i]!;
      if (name !== keys[i]) {
        if (taken.has(name)) {
          let n = 2;
          while (taken.has(`${name}#${n}`)) n++;
          name = `${name}#${n}`;
        }
        taken.add(name);
      }
      setOwn(out, name, obj[keys[i]!]);
    }
    return out;
  };

  // The replacement must be a fixed point, or redacting twice would differ from redacting once.
  if (o.hashKey === undefined && !o.labels && scanPatterns(o.replacement) !== o.replacement) {
    throw new PatternRedactionOptionError('replacement', 'is itself changed by redaction');
  }

  const redactor = (value: unknown): unknown => {
    ancestors.length = 0;
    try {
      return walk(value, undefined, 0);
    } catch {
      // Only a stack overflow from the app's own redact function can land here.
      return failClosed;
    }
  };
  const isClean = (s: string): boolean =>
    o.redact === undefined && s.length <= o.maxStringLength && scanPatterns(s) === s;
  // Names are short (event names are cut to 200 characters, keys are identifiers) and not cut
  // here, which could merge two of them.
  return Object.assign(redactor, { isClean, redactName: scanPatterns });
}

/** The pattern pass, and a test of one string against it. */
export interface PatternRedactor {
  (value: unknown): unknown;
  /**
   * true when the pass would leave the string `s` as it is (no pattern, no cut, no custom
   * function), as a value or as a property name.
   */
  isClean(s: string): boolean;
  /** A property name or an event name with the patterns replaced (not cut, no custom function). */
  redactName(name: string): string;
}

function compile(o: ResolvedPatternRedaction): CompiledPattern[] {
  const out: CompiledPattern[] = [];
  for (const p of BUILTIN_PII_PATTERNS) {
    if (o.patterns.has(p.name)) out.push(compiled(p.name, p.regex, p.needs, p.hint, p.pick));
  }
  for (const c of o.custom) out.push(compiled(c.name, c.regex, {}, undefined, undefined));
  return out;
}

function compiled(
  name: string,
  regex: RegExp,
  needs: Partial<PatternNeeds>,
  hint: PiiPattern['hint'],
  pick: PiiPattern['pick'],
): CompiledPattern {
  return { name, regex, ...resolveNeeds(needs), hint, pick };
}

/** The index after `i` in `s`: past a whole surrogate pair when the regex reads code points. */
function advance(s: string, i: number, unicode: boolean): number {
  if (!unicode || i + 1 >= s.length) return i + 1;
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) return i + 1;
  const d = s.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff ? i + 2 : i + 1;
}
