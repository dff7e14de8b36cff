import {
  compileFieldSet,
  DEFAULT_REDACTED_FIELDS,
  REDACTED,
  redactFieldsInPlace,
} from '../pipeline/redactFields.js';
import { keyedHash } from '../pipeline/redactHash.js';
import type { PatternRedactionOptions } from '../pipeline/redactPatterns.js';
import { createPatternRedactor } from '../pipeline/redactPatterns.js';
import { MAX_PATTERN_SCAN_LENGTH } from '../pipeline/redactPatterns.options.js';
import { ASYNC_HOOK, isAsyncAnswer } from '../pipeline/syncHook.js';
import type { RedactionOptions } from './options.js';

/** Properties in, properties out; may throw (a custom redactor can), and the caller drops the event then. */
export type Redactor = ((properties: Record<string, unknown>) => Record<string, unknown>) & {
  /**
   * true when no pass would change the string `s`, as a value or as a property name (absent when
   * a custom redactor, which sees whole objects, may change anything). Says nothing of the
   * field pass, which goes by a key's name to replace its value.
   */
  readonly isClean?: (s: string) => boolean;
  /** The event name with the patterns replaced (absent: names are kept as they are). */
  readonly redactName?: (name: string) => string;
  /** The app's functions it runs, as the options name them (absent: none): see `RunningHook`. */
  readonly appHooks?: string;
};

const alwaysClean = (): boolean => true;

/**
 * The redaction pass of the pipeline, built once from the options: field names first (in place
 * on the clone `safeClone` made, so no second copy), then patterns in string values, then the
 * app's own function. `false` gives the identity.
 */
export function buildRedactor(options: RedactionOptions | false, scanLength?: number): Redactor {
  if (options === false) return Object.assign((p: Record<string, unknown>) => p, { isClean: alwaysClean });
  const fields = options.fields === false ? null : compileFieldSet(options.fields ?? DEFAULT_REDACTED_FIELDS);
  const hashKey = options.hashKey;
  const replace =
    hashKey === undefined
      ? () => REDACTED
      : (v: unknown) => keyedHash(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)), hashKey);
  const hook = options.patterns === false ? undefined : watchedRedact(options.patterns?.redact);
  const patterns =
    options.patterns === false
      ? null
      : createPatternRedactor(patternOptions(options, scanLength, hook?.redact));
  const custom = options.custom;
  const redactor = (properties: Record<string, unknown>): Record<string, unknown> => {
    let p = properties;
    if (fields !== null && fields.size > 0) redactFieldsInPlace(p, fields, replace);
    if (patterns !== null) {
      const out = patterns(p);
      // The pass replaced the values the Promise stood for; the event is refused all the same,
      // so that the app learns why (`stats().dropped.rejected`, the drop event's detail).
      if (hook?.answeredAsync() === true) throw new TypeError(`redaction.patterns.redact ${ASYNC_HOOK}`);
      // Its own pass answers an object, unless its input could not be read at all.
      if (out === null || typeof out !== 'object' || Array.isArray(out)) {
        throw new TypeError('the pattern pass failed');
      }
      p = out as Record<string, unknown>;
    }
    if (custom !== undefined) p = asProperties(custom(p));
    return p;
  };
  const redactName = patterns === null ? undefined : patterns.redactName;
  const hooks: string[] = [];
  if (hook !== undefined) hooks.push('redaction.patterns.redact');
  if (custom !== undefined) hooks.push('redaction.custom');
  const appHooks = hooks.length > 0 ? hooks.join(' or ') : undefined;
  if (custom !== undefined) return Object.assign(redactor, { redactName, appHooks });
  return Object.assign(redactor, {
    isClean: patterns === null ? alwaysClean : patterns.isClean,
    redactName,
    appHooks,
  });
}

/**
 * What `custom` answered, if the pipeline can go on with it: a plain object (prototype
 * Object.prototype or null), as the clone made. A Promise (an async `custom`) was taken for one,
 * and the event went out with none of its properties.
 */
function asProperties(value: unknown): Record<string, unknown> {
  if (isAsyncAnswer(value)) throw new TypeError(`redaction.custom ${ASYNC_HOOK}`);
  if (value === null || typeof value !== 'object') {
    throw new TypeError('redaction.custom must answer a properties object');
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError('redaction.custom must answer a plain properties object');
  }
  return value as Record<string, unknown>;
}

type RedactFunction = NonNullable<PatternRedactionOptions['redact']>;

/** The app's `patterns.redact`, and whether it answered a Promise since it was last asked. */
function watchedRedact(
  redact: RedactFunction | undefined,
): { redact: RedactFunction; answeredAsync: () => boolean } | undefined {
  if (typeof redact !== 'function') return undefined;
  let async = false;
  return {
    redact: (value, key) => {
      const out = redact(value, key);
      if (typeof out !== 'string' && isAsyncAnswer(out)) async = true;
      return out;
    },
    answeredAsync: () => {
      const was = async;
      async = false;
      return was;
    },
  };
}

/**
 * `hashKey` applies to pattern matches too, unless the pattern options choose their own
 * replacement. The pattern pass cuts a string it cannot scan whole; unless its own
 * `maxStringLength` says otherwise, it scans as far as the property limit lets strings through
 * (`scanLength`), up to its cap, so the property limit is not silently lowered to its default.
 */
function patternOptions(
  options: RedactionOptions,
  scanLength: number | undefined,
  redact: RedactFunction | undefined,
): PatternRedactionOptions {
  let p = options.patterns === false ? {} : (options.patterns ?? {});
  if (redact !== undefined) p = { ...p, redact };
  if (scanLength !== undefined && p.maxStringLength === undefined) {
    p = { ...p, maxStringLength: Math.min(scanLength, MAX_PATTERN_SCAN_LENGTH) };
  }
  if (
    options.hashKey === undefined ||
    p.hashKey !== undefined ||
    p.replacement !== undefined ||
    p.labels === true
  ) {
    return p;
  }
  return { ...p, hashKey: options.hashKey };
}

/** The app's own `redaction.patterns.replacement`, when it set one (see `replacedWholeFor`). */
export function patternReplacement(options: RedactionOptions | false): string | undefined {
  if (options === false || options.patterns === undefined || options.patterns === false) return undefined;
  const replacement = options.patterns.replacement;
  return typeof replacement === 'string' ? replacement : undefined;
}
