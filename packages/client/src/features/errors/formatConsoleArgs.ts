import { detach } from './describeError.js';

/** Longest breadcrumb text of a console call, characters. */
const MAX_MESSAGE = 1024;

/**
 * The text of a console call, at most MAX_MESSAGE characters (then "…"). Like Node's console, it
 * never runs the app's code where it can avoid it: own properties are read through their
 * descriptors, so getters and `toJSON` are not called (a getter shows as `[Getter]`), and the work
 * stops once the text is full, so logging a 300 000-row object costs what its first rows cost.
 * Only a Proxy's traps run (they cannot be avoided without Node's internals); one that throws shows
 * as `[Unreadable]`.
 */
export function formatConsoleArgs(args: readonly unknown[]): string {
  const out = new BoundedText(MAX_MESSAGE);
  // A first argument that is a string is a format, as in console.log('password=%s', secret):
  // appended after it, the value escaped the redaction of `password=...` and `%s` stayed.
  const first = args[0];
  const next = typeof first === 'string' && first.includes('%') ? formatSpecifiers(first, args, out) : 0;
  for (let i = next; i < args.length && !out.full; i++) {
    if (i > 0) out.add(' ');
    formatValue(args[i], out, 0, new Set());
  }
  return out.text();
}

/**
 * Writes `format` with its specifiers replaced by the arguments after it, as Node's
 * `util.format` (and the browsers' console) does: `%s` `%d` `%i` `%f` `%j` `%o` `%O` `%c` and
 * `%%`; a specifier without an argument left stays as it is. Never calls the app's code:
 * objects are shown as the rest are (no `toString`, `valueOf` or `toJSON`), and `%d` of one is
 * `NaN`. Answers the index of the first argument not used.
 */
function formatSpecifiers(format: string, args: readonly unknown[], out: BoundedText): number {
  let next = 1;
  let from = 0;
  for (let at = format.indexOf('%'); at !== -1 && !out.full; at = format.indexOf('%', from)) {
    const spec = format.charCodeAt(at + 1);
    if (spec === PERCENT) {
      out.add(format.slice(from, at + 1));
      from = at + 2;
      continue;
    }
    if (!SPECIFIERS.has(spec) || next >= args.length) {
      out.add(format.slice(from, at + 1));
      from = at + 1;
      continue;
    }
    out.add(format.slice(from, at));
    from = at + 2;
    formatSpecified(String.fromCharCode(spec), args[next++], out);
  }
  if (!out.full) out.add(from === 0 ? format : format.slice(from));
  return next;
}

const PERCENT = 0x25;
const SPECIFIERS = new Set([...'sdifjoOc'].map((c) => c.charCodeAt(0)));

function formatSpecified(spec: string, v: unknown, out: BoundedText): void {
  switch (spec) {
    case 'c':
      return; // CSS for the browser's console: not text
    case 's':
      if (typeof v === 'bigint') out.add(`${String(v)}n`);
      else if (Object.is(v, -0)) out.add('-0');
      else formatValue(v, out, 0, new Set());
      return;
    case 'd':
    case 'i':
    case 'f': {
      if (typeof v === 'bigint') {
        out.add(spec === 'f' ? String(Number(v)) : `${String(v)}n`);
        return;
      }
      if (typeof v === 'object' || typeof v === 'symbol' || typeof v === 'function') {
        out.add('NaN');
        return;
      }
      const n =
        spec === 'd'
          ? Number(v)
          : spec === 'i'
            ? Number.parseInt(String(v), 10)
            : Number.parseFloat(String(v));
      out.add(Object.is(n, -0) ? '-0' : String(n));
      return;
    }
    default:
      // %j, %o, %O: the value as it is shown nested, strings quoted.
      formatValue(v, out, 1, new Set());
  }
}

/** Items shown per array, object, Map or Set before "…"; the text budget usually ends it first. */
const MAX_ITEMS = 20;
/** Nesting shown, as Node's console (depth 2): deeper objects show as `[Object]` / `[Array]`. */
const MAX_DEPTH = 2;
/** Own keys looked at per object, shown or not (non-enumerable ones are skipped). */
const MAX_KEYS_READ = 100;
/** Prototypes walked for an error's `name` (inherited from Error.prototype). */
const MAX_PROTOTYPES = 10;

/** Text of a bounded length: what goes past the budget is dropped, and `full` tells the callers to stop. */
class BoundedText {
  readonly #parts: string[] = [];
  #room: number;
  full = false;

  constructor(budget: number) {
    this.#room = budget;
  }

  get room(): number {
    return this.#room;
  }

  add(s: string): void {
    if (this.full) return;
    if (s.length <= this.#room) {
      this.#parts.push(s);
      this.#room -= s.length;
    } else {
      this.#parts.push(s.slice(0, this.#room));
      this.#room = 0;
      this.full = true;
    }
  }

  text(): string {
    // A copy: a cut of the app's string would otherwise keep all of it alive in the breadcrumbs.
    const text = detach(this.#parts.join(''));
    return this.full ? `${text}…` : text;
  }
}

function formatValue(v: unknown, out: BoundedText, depth: number, seen: Set<object>): void {
  try {
    switch (typeof v) {
      case 'string':
        if (depth === 0) out.add(v);
        else quoted(v, out);
        return;
      case 'bigint':
        out.add(depth === 0 ? String(v) : `${String(v)}n`);
        return;
      case 'symbol':
        // String() of a symbol is its description, never a call into the app.
        out.add(String(v));
        return;
      case 'function': {
        const name = ownData(v, 'name');
        out.add(typeof name === 'string' && name !== '' ? `[Function: ${name.slice(0, 200)}]` : '[Function]');
        return;
      }
      case 'object':
        if (v === null) out.add('null');
        else formatObject(v, out, depth, seen);
        return;
      default:
        out.add(String(v)); // number, boolean, undefined
    }
  } catch {
    out.add('[Unreadable]');
  }
}

function formatObject(o: object, out: BoundedText, depth: number, seen: Set<object>): void {
  if (seen.has(o)) {
    out.add('[Circular]');
    return;
  }
  if (Array.isArray(o)) {
    if (depth > MAX_DEPTH) out.add('[Array]');
    else withSeen(o, seen, () => formatArray(o, out, depth, seen));
    return;
  }
  if (isDate(o)) {
    const time = Date.prototype.getTime.call(o);
    out.add(Number.isNaN(time) ? 'Invalid Date' : Date.prototype.toISOString.call(o));
    return;
  }
  if (o instanceof Error) {
    const name = inheritedData(o, 'name');
    const message = ownData(o, 'message');
    const text = `${typeof name === 'string' ? name.slice(0, 200) : 'Error'}: ${typeof message === 'string' ? message.slice(0, out.room) : ''}`;
    out.add(depth === 0 ? text : `[${text}]`);
    return;
  }
  if (ArrayBuffer.isView(o)) {
    // Its indices are own properties: listing its keys would make one string per byte.
    const ctor = inheritedData(o, 'constructor');
    const name = typeof ctor === 'function' ? ownData(ctor, 'name') : undefined;
    out.add(`[${typeof name === 'string' && name !== '' ? name.slice(0, 200) : 'binary data'}]`);
    return;
  }
  if (depth > MAX_DEPTH) {
    out.add('[Object]');
    return;
  }
  const mapSize = sizeOf(o, MAP_SIZE);
  if (mapSize !== undefined) {
    withSeen(o, seen, () =>
      formatEntries(Map.prototype.entries.call(o as Map<unknown, unknown>), mapSize, 'Map', out, depth, seen),
    );
    return;
  }
  const setSize = sizeOf(o, SET_SIZE);
  if (setSize !== undefined) {
    withSeen(o, seen, () =>
      formatEntries(Set.prototype.values.call(o as Set<unknown>), setSize, 'Set', out, depth, seen),
    );
    return;
  }
  withSeen(o, seen, () => formatProperties(o, out, depth, seen));
}

function formatArray(list: readonly unknown[], out: BoundedText, depth: number, seen: Set<object>): void {
  const length = ownData(list, 'length');
  const n = typeof length === 'number' ? length : 0;
  out.add('[');
  let i = 0;
  for (; i < n && i < MAX_ITEMS && !out.full; i++) {
    if (i > 0) out.add(',');
    formatProperty(list, String(i), out, depth, seen, 'empty');
  }
  if (i < n) out.add(`,…${n - i} more`);
  out.add(']');
}

function formatProperties(o: object, out: BoundedText, depth: number, seen: Set<object>): void {
  // Reflect.ownKeys, not Object.keys: on a Proxy it runs one trap, not one per key.
  const keys = Reflect.ownKeys(o);
  out.add('{');
  let shown = 0;
  for (let i = 0; i < keys.length && !out.full; i++) {
    if (shown === MAX_ITEMS || i === MAX_KEYS_READ) {
      out.add(',…');
      break;
    }
    const key = keys[i]!;
    let descriptor: PropertyDescriptor | undefined;
    try {
      descriptor = Object.getOwnPropertyDescriptor(o, key);
    } catch {
      descriptor = { value: UNREADABLE, enumerable: true };
    }
    if (descriptor === undefined || descriptor.enumerable !== true) continue;
    if (shown++ > 0) out.add(',');
    if (typeof key === 'string') quoted(key, out);
    else out.add(`[${String(key)}]`);
    out.add(':');
    formatDescribed(descriptor, out, depth, seen);
  }
  out.add('}');
}

function formatEntries(
  entries: Iterator<unknown>,
  size: number,
  kind: 'Map' | 'Set',
  out: BoundedText,
  depth: number,
  seen: Set<object>,
): void {
  out.add(`${kind}(${size}) {`);
  let i = 0;
  for (; i < size && i < MAX_ITEMS && !out.full; i++) {
    const next = entries.next();
    if (next.done === true) break;
    if (i > 0) out.add(',');
    if (kind === 'Map') {
      const [key, value] = next.value as [unknown, unknown];
      formatValue(key, out, depth + 1, seen);
      out.add(' => ');
      formatValue(value, out, depth + 1, seen);
    } else formatValue(next.value, out, depth + 1, seen);
  }
  if (i < size) out.add(',…');
  out.add('}');
}

const UNREADABLE = Symbol('unreadable');

function formatProperty(
  o: object,
  key: string,
  out: BoundedText,
  depth: number,
  seen: Set<object>,
  missing: string,
): void {
  let descriptor: PropertyDescriptor | undefined;
  try {
    descriptor = Object.getOwnPropertyDescriptor(o, key);
  } catch {
    out.add('[Unreadable]');
    return;
  }
  if (descriptor === undefined) out.add(missing);
  else formatDescribed(descriptor, out, depth, seen);
}

/** A property's value when it is data; an accessor is named, never called. */
function formatDescribed(d: PropertyDescriptor, out: BoundedText, depth: number, seen: Set<object>): void {
  if ('value' in d) {
    if (d.value === UNREADABLE) out.add('[Unreadable]');
    else formatValue(d.value, out, depth + 1, seen);
  } else if (d.get !== undefined) out.add(d.set === undefined ? '[Getter]' : '[Getter/Setter]');
  else out.add('[Setter]');
}

/** A string in JSON quotes, escaped; only what can fit is escaped (the string may be huge). */
function quoted(s: string, out: BoundedText): void {
  // Escaping at most doubles nothing into fewer characters: room + 1 characters overflow for sure.
  out.add(JSON.stringify(s.length > out.room ? s.slice(0, out.room + 1) : s));
}

function withSeen(o: object, seen: Set<object>, format: () => void): void {
  seen.add(o);
  try {
    format();
  } finally {
    seen.delete(o);
  }
}

/** An own data property's value; undefined for a getter (not called) or a missing one. */
function ownData(o: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(o, key);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

/** A data property's value, own or inherited; undefined when it is a getter (not called). */
function inheritedData(o: object, key: string): unknown {
  let current: object | null = o;
  for (let i = 0; i < MAX_PROTOTYPES && current !== null; i++) {
    const d = Object.getOwnPropertyDescriptor(current, key);
    if (d !== undefined) return 'value' in d ? d.value : undefined;
    current = Object.getPrototypeOf(current) as object | null;
  }
  return undefined;
}

// The built-in `size` getters double as brand checks: they throw for anything but their own kind
// (a Proxy included), and run no code of the app.
const MAP_SIZE = Object.getOwnPropertyDescriptor(Map.prototype, 'size')!.get!;
const SET_SIZE = Object.getOwnPropertyDescriptor(Set.prototype, 'size')!.get!;

function sizeOf(o: object, size: () => number): number | undefined {
  try {
    return size.call(o);
  } catch {
    return undefined;
  }
}

function isDate(o: object): boolean {
  try {
    Date.prototype.getTime.call(o);
    return true;
  } catch {
    return false;
  }
}
