import { describeValue } from '../describeValue.js';
import safeRegex from 'safe-regex2';
import type { PiiPatternName } from './piiPatterns.js';
import { PII_PATTERN_NAMES } from './piiPatterns.js';
import { REDACTED } from './redactFields.js';

/** A pattern of the app's own, with the name used in labels (`[REDACTED:<name>]`). */
export interface CustomPiiPattern {
  name: string;
  regex: RegExp;
}

/**
 * A built-in pattern is turned off by its name, here (`{ homePath: false }`, the short form the
 * client's README shows) or under `patterns` (`{ patterns: { homePath: false } }`).
 */
export interface PatternRedactionOptions extends Partial<Record<PiiPatternName, boolean>> {
  /**
   * Built-in patterns turned on or off by name, e.g. `{ phone: false }`. Default: all on
   * (privateKey, jwt, bearer, keyValueSecret, apiKey, urlSecret, homePath, email, ipv6, ipv4,
   * iban, card, ssn, phone).
   */
  patterns?: Partial<Record<PiiPatternName, boolean>>;
  /**
   * The app's own patterns, run after the built-in ones. A regex without the `g` flag is made
   * global (every occurrence is replaced). Rejected at construction: a regex that matches the
   * empty string, and one with nested quantifiers (`(a+)+`, star height > 1: the shape of
   * catastrophic backtracking). Each value is scanned over at most `maxStringLength` characters.
   */
  custom?: ReadonlyArray<RegExp | CustomPiiPattern>;
  /** What a match becomes; default `[REDACTED]`. Must itself survive redaction unchanged. */
  replacement?: string;
  /** Replace with `[REDACTED:<pattern name>]` (e.g. `[REDACTED:email]`) instead; default false. */
  labels?: boolean;
  /**
   * Replace each match with its keyed stable hash `[HASH:<16 hex>]` (see `redactHash.ts`:
   * pseudonymous, not anonymous), so redacted values can still be counted and joined.
   * Exclusive with `labels` and `replacement`.
   */
  hashKey?: string;
  /**
   * Runs last on every string value (after the patterns) with the property name it sits under;
   * returns the string to keep. If it throws or returns a non-string (a Promise too: it must be
   * synchronous), the whole value becomes the replacement: a broken redactor must not let PII
   * through. (The client drops an event for which it answered a Promise.) Not run on property
   * names or event names, which get the patterns alone.
   */
  redact?: (value: string, key: string | undefined) => string;
  /**
   * Longest string scanned (UTF-16 units), default 8192 (the pipeline's `safeClone` already
   * cuts to that): a longer value is cut to it and marked `…[truncated]`, as `safeClone` does,
   * which bounds the time any pattern can take on one value.
   */
  maxStringLength?: number;
  /** Deepest nesting walked, default 32; deeper values become `[Depth]` (never passed unscanned). */
  maxDepth?: number;
}

export interface ResolvedPatternRedaction {
  patterns: ReadonlySet<PiiPatternName>;
  custom: readonly { name: string; regex: RegExp }[];
  replacement: string;
  labels: boolean;
  hashKey: string | undefined;
  redact: ((value: string, key: string | undefined) => string) | undefined;
  maxStringLength: number;
  maxDepth: number;
}

export const DEFAULT_PATTERN_REDACTION = {
  replacement: REDACTED,
  labels: false,
  maxStringLength: 8192,
  maxDepth: 32,
} as const;

/** Most characters one value may be scanned over, whatever the option says. */
export const MAX_PATTERN_SCAN_LENGTH = 1_048_576;

export class PatternRedactionOptionError extends Error {
  readonly kind = 'redaction-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`pattern redaction option ${option} ${reason}`);
    this.name = 'PatternRedactionOptionError';
  }
}

const PATTERN_OPTION_KEYS: readonly string[] = [
  'patterns',
  'custom',
  'replacement',
  'labels',
  'hashKey',
  'redact',
  'maxStringLength',
  'maxDepth',
];

export function resolvePatternRedactionOptions(
  input: PatternRedactionOptions = {},
): ResolvedPatternRedaction {
  if (input === null || typeof input !== 'object') {
    throw new PatternRedactionOptionError('options', 'must be an object');
  }
  const toggles = new Map<PiiPatternName, { on: boolean; option: string }>();
  for (const key of Object.keys(input)) {
    if (isPatternName(key)) {
      toggle(toggles, key, (input as Record<string, unknown>)[key], key);
    } else if (!PATTERN_OPTION_KEYS.includes(key)) {
      throw new PatternRedactionOptionError(
        key,
        `is not a known option (${PATTERN_OPTION_KEYS.join(', ')}) nor a built-in pattern (${PII_PATTERN_NAMES.join(', ')})`,
      );
    }
  }
  if (input.patterns !== undefined) {
    if (input.patterns === null || typeof input.patterns !== 'object') {
      throw new PatternRedactionOptionError('patterns', 'must be an object of pattern names to booleans');
    }
    for (const [name, on] of Object.entries(input.patterns)) {
      if (!isPatternName(name)) {
        throw new PatternRedactionOptionError(
          `patterns.${name}`,
          `is not a built-in pattern (${PII_PATTERN_NAMES.join(', ')})`,
        );
      }
      toggle(toggles, name, on, `patterns.${name}`);
    }
  }
  const patterns = new Set<PiiPatternName>(PII_PATTERN_NAMES);
  for (const [name, { on }] of toggles) if (!on) patterns.delete(name);

  const labels = input.labels ?? DEFAULT_PATTERN_REDACTION.labels;
  if (typeof labels !== 'boolean') throw new PatternRedactionOptionError('labels', 'must be a boolean');
  const hashKey = input.hashKey;
  if (hashKey !== undefined) {
    if (typeof hashKey !== 'string' || hashKey === '') {
      throw new PatternRedactionOptionError('hashKey', 'must be a non-empty string');
    }
    if (labels) throw new PatternRedactionOptionError('hashKey', 'cannot be used with labels');
    if (input.replacement !== undefined) {
      throw new PatternRedactionOptionError('hashKey', 'cannot be used with replacement');
    }
  }
  const replacement = input.replacement ?? DEFAULT_PATTERN_REDACTION.replacement;
  if (typeof replacement !== 'string')
    throw new PatternRedactionOptionError('replacement', 'must be a string');
  if (labels && input.replacement !== undefined) {
    throw new PatternRedactionOptionError('labels', 'cannot be used with replacement');
  }

  const redact = input.redact;
  if (redact !== undefined && typeof redact !== 'function') {
    throw new PatternRedactionOptionError('redact', 'must be a function (value, key) => string');
  }

  const maxStringLength = input.maxStringLength ?? DEFAULT_PATTERN_REDACTION.maxStringLength;
  if (
    !Number.isInteger(maxStringLength) ||
    maxStringLength < 0 ||
    maxStringLength > MAX_PATTERN_SCAN_LENGTH
  ) {
    throw new PatternRedactionOptionError(
      'maxStringLength',
      `must be an integer from 0 to ${MAX_PATTERN_SCAN_LENGTH}, got ${describeValue(maxStringLength)}`,
    );
  }
  const maxDepth = input.maxDepth ?? DEFAULT_PATTERN_REDACTION.maxDepth;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) {
    throw new PatternRedactionOptionError(
      'maxDepth',
      `must be an integer from 1 to 1000, got ${describeValue(maxDepth)}`,
    );
  }

  return {
    patterns,
    custom: resolveCustom(input.custom),
    replacement,
    labels,
    hashKey,
    redact,
    maxStringLength,
    maxDepth,
  };
}

function isPatternName(name: string): name is PiiPatternName {
  return (PII_PATTERN_NAMES as readonly string[]).includes(name);
}

/** One pattern's on/off; given twice (short form and `patterns`), both must say the same. */
function toggle(
  toggles: Map<PiiPatternName, { on: boolean; option: string }>,
  name: PiiPatternName,
  on: unknown,
  option: string,
): void {
  if (on === undefined) return;
  if (typeof on !== 'boolean') throw new PatternRedactionOptionError(option, 'must be a boolean');
  const earlier = toggles.get(name);
  if (earlier !== undefined && earlier.on !== on) {
    throw new PatternRedactionOptionError(option, `says ${on}, but ${earlier.option} says ${earlier.on}`);
  }
  toggles.set(name, { on, option });
}

function resolveCustom(custom: PatternRedactionOptions['custom']): { name: string; regex: RegExp }[] {
  if (custom === undefined) return [];
  if (!Array.isArray(custom)) throw new PatternRedactionOptionError('custom', 'must be an array');
  return custom.map((entry: unknown, i) => {
    const option = `custom[${i}]`;
    let name = 'custom';
    let regex: unknown = entry;
    if (!(entry instanceof RegExp)) {
      if (entry === null || typeof entry !== 'object') {
        throw new PatternRedactionOptionError(option, 'must be a RegExp or { name, regex }');
      }
      const e = entry as { name?: unknown; regex?: unknown };
      if (typeof e.name !== 'string' || !/^[\w.-]{1,64}$/.test(e.name)) {
        throw new PatternRedactionOptionError(`${option}.name`, 'must be 1 to 64 letters, digits, _ . or -');
      }
      name = e.name;
      regex = e.regex;
    }
    if (!(regex instanceof RegExp))
      throw new PatternRedactionOptionError(`${option}.regex`, 'must be a RegExp');
    if (!safeRegex(regex)) {
      throw new PatternRedactionOptionError(
        option,
        `has nested quantifiers that can backtrack catastrophically: /${regex.source}/`,
      );
    }
    // Our own copy: global (every occurrence), never sticky, and no shared lastIndex with the app.
    const flags = regex.flags.replace(/[gy]/g, '') + 'g';
    const own = new RegExp(regex.source, flags);
    own.lastIndex = 0;
    if (own.test('')) {
      throw new PatternRedactionOptionError(option, `matches the empty string: /${regex.source}/`);
    }
    own.lastIndex = 0;
    return { name, regex: own };
  });
}
