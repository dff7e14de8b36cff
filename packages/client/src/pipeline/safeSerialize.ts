import { globalScopeName } from './globalScope.js';
import { cutClear } from './textCut.js';
import { forgetRefusedKeys, ownKeysOf } from './refusedKeys.js';

/**
 * Turns anything an app passes as properties into plain JSON-safe data, once, before the
 * event is stringified for the outbox. Never throws: a throwing getter or Proxy trap
 * becomes a placeholder for that value only, and the caller learns it through `issues`.
 */
export interface SafeLimits {
  /** Deepest nesting kept; deeper values become "[Depth]". Default 10. */
  maxDepth: number;
  /** Longest string kept (UTF-16 units); longer ones are cut and marked. Default 8192. */
  maxStringLength: number;
  /** Most keys kept per object / items per array. Default 1000. */
  maxProperties: number;
}

export const defaultSafeLimits: SafeLimits = { maxDepth: 10, maxStringLength: 8192, maxProperties: 1000 };

/**
 * The most JSON a walk of properties goes through before it stops, when its caller names no
 * limit: the client's default `maxEventBytes` (512 KiB), since an event with more is not sent.
 */
export const DEFAULT_MAX_JSON_BYTES = 512 * 1024;

export interface SafeResult {
  value: unknown;
  /** Count of values that had to be replaced, cut or dropped (0 when the input was clean). */
  issues: number;
  /**
   * true: the JSON of the clone would be over `maxBytes`, and the clone stopped there: `value`
   * is cut short (what was left out counts in `issues`). The data is too large to send.
   */
  tooLarge?: true;
}

const TRUNCATED = '…[truncated]';

/** What a clone has found so far: the repairs, and how many bytes of JSON it may still make. */
interface CloneState {
  issues: number;
  bytesLeft: number;
}

/**
 * The clone stops once its JSON would be over `maxBytes` (`tooLarge`), so it costs
 * O(`maxBytes`) whatever the input. Shared references are copied where they occur, as
 * JSON.stringify writes them: data that reuses the same arrays and objects (a DAG) has a JSON
 * exponentially larger than its memory, and the count stops it at the bound instead. Each value
 * counts at least one byte, each string and key its length (UTF-16 units: no more than the UTF-8
 * bytes of its JSON), so the count is a lower bound and data stopped by it is over `maxBytes`.
 */
export function safeClone(
  input: unknown,
  limits: SafeLimits = defaultSafeLimits,
  maxBytes: number = DEFAULT_MAX_JSON_BYTES,
): SafeResult {
  const state: CloneState = { issues: 0, bytesLeft: maxBytes };
  const seen = new Set<object>();
  let value: unknown;
  try {
    value = clone(input, 0, seen, limits, state);
  } finally {
    forgetRefusedKeys();
  }
  return state.bytesLeft < 0
    ? { value, issues: state.issues, tooLarge: true }
    : { value, issues: state.issues };
}

function clone(v: unknown, depth: number, seen: Set<object>, limits: SafeLimits, st: CloneState): unknown {
  switch (typeof v) {
    case 'string':
      if (v.length > limits.maxStringLength) {
        st.issues++;
        st.bytesLeft -= limits.maxStringLength + 1;
        return cutClear(v, limits.maxStringLength) + TRUNCATED;
      }
      // Its quotes: one counted by the caller (with the key or item), one here.
      st.bytesLeft -= v.length + 1;
      return v;
    case 'number':
      if (Number.isFinite(v)) return v;
      st.issues++;
      return null;
    case 'boolean':
      return v;
    case 'bigint':
      // JSON.stringify throws on it: a repair, like NaN and the dropped values below.
      st.issues++;
      return v.toString();
    case 'undefined':
      // Absent, in JSON as in the app's intent: nothing was repaired.
      return undefined;
    case 'function':
    case 'symbol':
      st.issues++;
      return undefined;
  }
  if (v === null) return null;
  const obj = v as object;
  if (seen.has(obj)) {
    st.issues++;
    return '[Circular]';
  }
  if (depth >= limits.maxDepth) {
    st.issues++;
    return '[Depth]';
  }
  try {
    if (obj instanceof Date) {
      const t = obj.getTime();
      if (!Number.isNaN(t)) return obj.toISOString();
      st.issues++;
      return null;
    }
    seen.add(obj);
    try {
      // What JSON.stringify would write: URL, Decimal, Luxon and Temporal values, boxed
      // primitives. Read as objects they would all be `{}`.
      if (obj instanceof String || obj instanceof Number || obj instanceof Boolean) {
        return clone(obj.valueOf(), depth, seen, limits, st);
      }
      // Before toJSON: some errors have one that carries far more (axios: the request config).
      if (obj instanceof Error) {
        // At least `{}`, one byte more than the caller counted. An error holds three values
        // that may be errors again, each walked where it occurs: this count stops that too.
        if (--st.bytesLeft < 0) {
          st.issues++;
          return undefined;
        }
        return {
          name: clone(obj.name, depth + 1, seen, limits, st),
          message: clone(obj.message, depth + 1, seen, limits, st),
          stack: clone(obj.stack, depth + 1, seen, limits, st),
        };
      }
      // Before toJSON too: Node's Buffer has one, which gave its bytes as a list of numbers,
      // out of reach of every redaction (a request body with a password in it).
      if (ArrayBuffer.isView(obj)) {
        st.issues++;
        return `[${obj.constructor.name}]`;
      }
      const scope = globalScopeName(obj);
      if (scope !== undefined) {
        st.issues++;
        return `[${scope}]`;
      }
      const toJSON = (obj as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        return clone(toJSON.call(obj, ''), depth, seen, limits, st);
      }
      if (Array.isArray(obj)) return cloneList(obj, depth, seen, limits, st);
      if (obj instanceof Set) return cloneSet(obj, depth, seen, limits, st);
      if (obj instanceof Map) {
        const out: Record<string, unknown> = {};
        let n = 0;
        for (const [k, val] of obj) {
          if (n++ >= limits.maxProperties || --st.bytesLeft < 0) {
            st.issues++;
            break;
          }
          const c = clone(val, depth + 1, seen, limits, st);
          if (c !== undefined) {
            const key = String(k);
            st.bytesLeft -= key.length + 3;
            setOwn(out, key, c);
          }
        }
        return out;
      }
      const out: Record<string, unknown> = {};
      const keys = ownKeysOf(obj);
      const n = Math.min(keys.length, limits.maxProperties);
      if (keys.length > n) st.issues++;
      for (let i = 0; i < n; i++) {
        // One byte of the value now; `"key":` once it is known to be written.
        if (--st.bytesLeft < 0) {
          st.issues++;
          break;
        }
        const k = keys[i]!;
        let c: unknown;
        try {
          c = clone((obj as Record<string, unknown>)[k], depth + 1, seen, limits, st);
        } catch {
          st.issues++;
          c = '[Unreadable]';
        }
        if (c !== undefined) {
          st.bytesLeft -= k.length + 3;
          setOwn(out, k, c);
        }
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  } catch {
    // A Proxy whose ownKeys/getPrototypeOf trap throws lands here.
    st.issues++;
    return '[Unreadable]';
  }
}

function cloneList(
  list: readonly unknown[],
  depth: number,
  seen: Set<object>,
  limits: SafeLimits,
  st: CloneState,
): unknown[] {
  const n = Math.min(list.length, limits.maxProperties);
  if (list.length > n) st.issues++;
  const out: unknown[] = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    // At least one byte per item.
    if (--st.bytesLeft < 0) {
      st.issues++;
      out.length = i;
      break;
    }
    let c: unknown;
    try {
      c = clone(list[i], depth + 1, seen, limits, st);
    } catch {
      st.issues++;
      c = '[Unreadable]';
    }
    // JSON turns undefined items into null; say so explicitly.
    out[i] = c === undefined ? null : c;
  }
  return out;
}

/**
 * A Set as the array JSON would make of it, read only as far as the limits let it go: copying it
 * whole first (`Array.from`) cost ~100 ms per event for 3 million items, to keep 1 000.
 */
function cloneSet(
  set: ReadonlySet<unknown>,
  depth: number,
  seen: Set<object>,
  limits: SafeLimits,
  st: CloneState,
): unknown[] {
  const n = Math.min(set.size, limits.maxProperties);
  if (set.size > n) st.issues++;
  const out: unknown[] = [];
  for (const item of set) {
    if (out.length >= n) break;
    // At least one byte per item.
    if (--st.bytesLeft < 0) {
      st.issues++;
      break;
    }
    let c: unknown;
    try {
      c = clone(item, depth + 1, seen, limits, st);
    } catch {
      st.issues++;
      c = '[Unreadable]';
    }
    out.push(c === undefined ? null : c);
  }
  return out;
}

/**
 * `out[key] = value`, except that a key `__proto__` (JSON.parse makes such own keys) becomes an
 * own property too: assigning it would call the prototype setter and lose the value.
 */
export function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  } else out[key] = value;
}
