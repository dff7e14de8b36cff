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
import type { RedactionOptions } from './options.js';

/** Properties in, properties out; may throw (a custom redactor can), and the caller drops the event then. */
export type Redactor = ((properties: Record<string, unknown>) => Record<string, unknown>) & {
  /**
   * true when no pass would change the string value `s` (absent when a custom redactor, which
   * sees whole objects, may change anything). Says nothing of keys: the field pass is by name.
   */
  readonly isClean?: (s: string) => boolean;
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
  const patterns =
    options.patterns === false ? null : createPatternRedactor(patternOptions(options, scanLength));
  const custom = options.custom;
  const redactor = (properties: Record<string, unknown>): Record<string, unknown> => {
    let p = properties;
    if (fields !== null && fields.size > 0) redactFieldsInPlace(p, fields, replace);
    if (patterns !== null) p = asProperties(patterns(p));
    if (custom !== undefined) p = asProperties(custom(p));
    return p;
  };
  if (custom !== undefined) return redactor;
  return Object.assign(redactor, { isClean: patterns === null ? alwaysClean : patterns.isClean });
}

function asProperties(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('a redactor must answer a properties object');
  }
  return value as Record<string, unknown>;
}

/**
 * `hashKey` applies to pattern matches too, unless the pattern options choose their own
 * replacement. The pattern pass cuts a string it cannot scan whole; unless its own
 * `maxStringLength` says otherwise, it scans as far as the property limit lets strings through
 * (`scanLength`), up to its cap, so the property limit is not silently lowered to its default.
 */
function patternOptions(options: RedactionOptions, scanLength: number | undefined): PatternRedactionOptions {
  let p = options.patterns === false ? {} : (options.patterns ?? {});
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
