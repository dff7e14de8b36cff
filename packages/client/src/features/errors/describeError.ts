import { cutClear } from '../../pipeline/textCut.js';
import { isInAppFile } from './isInAppFile.js';
import { parseStack } from './parseStack.js';
import type { ExceptionEntry, StackFrame } from './types.js';

/**
 * Turns whatever was thrown into `$exception_list` entries: the value itself, then its `cause`
 * chain and the `errors` of an AggregateError, depth first. Never throws: every property is
 * read through `read`, so a throwing getter or a hostile Proxy costs that one property, and
 * cycles (`a.cause = b; b.cause = a`) end at the first repeat.
 */
export interface DescribeLimits {
  /** Longest message kept (UTF-16 units); longer ones end in "…[truncated]". */
  maxMessageLength: number;
  /**
   * Most characters of a `stack` parsed. A longer stack is read for its frames: a V8 stack's
   * leading name and message, and lines no frame is that long, are skipped before it is cut.
   */
  maxStackLength: number;
  /** Frames kept per error. */
  maxFrames: number;
  /** How far the `cause` / `errors` chain is followed from the captured error. */
  maxCauseDepth: number;
  /** Entries in the whole list (captured error + causes + aggregated errors). */
  maxExceptions: number;
}

const TRUNCATED = '…[truncated]';
const MAX_TYPE_LENGTH = 200;
const MAX_AGGREGATE = 10;
/** Stack lines longer than this are skipped: no real frame is that long. */
export const MAX_LINE_LENGTH = 2048;

/** Parses a stack (already cut by `boundedStack`) into frames; a `ParsedStackCache` fits. */
export type StackParser = (stack: string) => readonly StackFrame[];

/** The `name`, `message` and `stack` of the captured error, when the caller has read them already. */
export interface ReadError {
  readonly name: unknown;
  readonly message: unknown;
  readonly stack: unknown;
}

export function describeError(
  value: unknown,
  limits: DescribeLimits,
  isInApp: (file: string | null) => boolean = isInAppFile,
  parse: StackParser = (stack) =>
    parseStack(stack, { maxFrames: limits.maxFrames, maxLineLength: MAX_LINE_LENGTH }, isInApp),
  readAlready?: ReadError,
): ExceptionEntry[] {
  const out: ExceptionEntry[] = [];
  const seen = new Set<unknown>();
  const visit = (
    v: unknown,
    depth: number,
    parent: ExceptionEntry | undefined,
    source: string | undefined,
  ): void => {
    if (out.length >= limits.maxExceptions) return;
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return;
      seen.add(v);
    }
    const entry = describeOne(v, limits, parse, out.length === 0 ? readAlready : undefined);
    entry.mechanism.exception_id = out.length;
    if (parent !== undefined) {
      entry.mechanism.type = source === 'cause' ? 'cause' : 'aggregate';
      entry.mechanism.parent_id = parent.mechanism.exception_id;
      entry.mechanism.source = source;
    }
    out.push(entry);
    if (depth >= limits.maxCauseDepth || typeof v !== 'object' || v === null) return;
    const errors = read(v, 'errors');
    if (isArray(errors)) {
      const n = Math.min(safeLength(errors), MAX_AGGREGATE);
      for (let i = 0; i < n; i++) visit(read(errors, i), depth + 1, entry, `errors[${i}]`);
    }
    const cause = read(v, 'cause');
    if (cause !== undefined) visit(cause, depth + 1, entry, 'cause');
  };
  visit(value, 0, undefined, undefined);
  return out;
}

function describeOne(
  v: unknown,
  limits: DescribeLimits,
  parse: StackParser,
  readAlready: ReadError | undefined,
): ExceptionEntry {
  const mechanism: ExceptionEntry['mechanism'] = { type: 'generic', synthetic: true, exception_id: 0 };
  const entry = (type: string, message: string, stack: unknown): ExceptionEntry => ({
    type: cut(type, MAX_TYPE_LENGTH),
    value: cut(message, limits.maxMessageLength),
    stacktrace: {
      type: 'parsed',
      // A shared frozen array when the parser caches: the tracker copies it before sending.
      frames:
        typeof stack === 'string' ? (parse(boundedStack(stack, limits.maxStackLength)) as StackFrame[]) : [],
    },
    mechanism,
  });
  if (typeof v !== 'object' || v === null) {
    // A thrown string is the message; anything else is shown as JavaScript would print it.
    return entry('Error', typeof v === 'string' ? v : safeString(v), undefined);
  }
  // Read once: a getter may answer differently the second time.
  const message = readAlready === undefined ? read(v, 'message') : readAlready.message;
  const stack = readAlready === undefined ? read(v, 'stack') : readAlready.stack;
  const errorLike = isError(v) || typeof message === 'string' || typeof stack === 'string';
  if (!errorLike) {
    const ctor = constructorName(v);
    const keys = safeKeys(v);
    return entry(
      ctor === 'Object' || ctor === '' ? 'Error' : ctor,
      `Non-Error exception captured${keys.length > 0 ? ` with keys: ${keys.slice(0, 10).join(', ')}` : ''}`,
      undefined,
    );
  }
  mechanism.synthetic = !isError(v);
  const name = readAlready === undefined ? read(v, 'name') : readAlready.name;
  const type = typeof name === 'string' && name !== '' ? name : constructorName(v) || 'Error';
  return entry(type, typeof message === 'string' ? message : safeString(message ?? ''), stack);
}

/** Where V8's frames start: every frame line is indented "    at ". */
const V8_FRAME = '\n    at ';

/**
 * At most `max` characters of `stack`, whole lines, chosen so that its frames survive. A V8 stack
 * starts with the error's name and message, which can alone be longer than `max` (an upstream
 * body in the message): cutting the stack as it is would keep no frame, and errors thrown from
 * different places would then share one fingerprint. So the message is skipped (frames start at
 * the first "at" line, as parseStack takes them), and so are lines that no frame is that long,
 * instead of spending the budget. The work stays linear in the stack, in native searches; the
 * answer is a copy, as a slice would keep the whole stack alive in the parsed-stack cache.
 */
export function boundedStack(stack: string, max: number): string {
  if (stack.length <= max) return stack;
  const kept: string[] = [];
  let size = 0;
  let start = stack.indexOf(V8_FRAME);
  if (start < 0) start = 0;
  else {
    // A leading empty line, as after V8's message: the frames are then keyed alone in the cache.
    kept.push('');
    start++;
  }
  while (start < stack.length) {
    let end = stack.indexOf('\n', start);
    if (end < 0) end = stack.length;
    const length = end - start;
    if (length <= MAX_LINE_LENGTH) {
      if (size + length + 1 > max) break;
      kept.push(stack.slice(start, end));
      size += length + 1;
    }
    start = end + 1;
  }
  return detach(kept.join('\n'));
}

/**
 * A copy of `s` that shares no memory with a longer string: V8 makes a slice a view that keeps
 * its whole parent alive, which for a cut message means the full 50 MB one, as long as the group
 * table or a cache holds the cut.
 */
export function detach(s: string): string {
  return ` ${s}`.slice(1);
}

/** `obj[key]`, or undefined when the getter or a Proxy trap throws. */
export function read(obj: unknown, key: string | number): unknown {
  try {
    return (obj as Record<string | number, unknown>)[key];
  } catch {
    return undefined;
  }
}

function isError(v: object): boolean {
  try {
    return v instanceof Error || Object.prototype.toString.call(v) === '[object Error]';
  } catch {
    return false;
  }
}

function isArray(v: unknown): v is readonly unknown[] {
  try {
    return Array.isArray(v);
  } catch {
    return false; // a revoked Proxy
  }
}

function safeLength(list: readonly unknown[]): number {
  const n = read(list, 'length');
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

function constructorName(v: object): string {
  try {
    const ctor = (v as { constructor?: unknown }).constructor;
    const name = typeof ctor === 'function' ? ctor.name : '';
    return typeof name === 'string' ? name : '';
  } catch {
    return '';
  }
}

function safeKeys(v: object): string[] {
  try {
    return Object.keys(v);
  } catch {
    return [];
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    try {
      return Object.prototype.toString.call(v);
    } catch {
      return '[unprintable]';
    }
  }
}

function cut(s: string, max: number): string {
  return s.length > max ? detach(cutClear(s, max)) + TRUNCATED : s;
}
