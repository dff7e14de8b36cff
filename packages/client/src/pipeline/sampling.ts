/**
 * Per-event-name sampling. Rules match exact names or globs (`perf.*`): an exact name wins over
 * every glob, then the first matching glob in the order written, then `default`. (In the order
 * written alone, `{ '*': never, '2024': always }` sent event 2024: JavaScript lists integer-like
 * keys first, whatever was written. Such keys never hold a `*`, so globs keep their order.) Deterministic sampling hashes the distinct_id alone (FNV-1a,
 * 32 bit) to a point in [0, 1) and keeps the event when the point is under the rate, so a user's
 * events are kept or dropped whole, across event names and processes, and with rules of different
 * rates a user kept at a lower rate is kept at every higher one. It is not a security hash and
 * need not be.
 */
export type SamplingDecision =
  | { kind: 'always' }
  | { kind: 'never' }
  | { kind: 'probabilistic'; rate: number; deterministic?: boolean }
  | { kind: 'throttled'; max: number; windowMs: number };

export interface SamplingOptions {
  /** Applied when no rule matches. Default `{ kind: 'always' }`. */
  default?: SamplingDecision;
  /**
   * Event name or glob (`*` matches any run of characters) → decision: a plain object. An exact
   * name wins, then the first matching glob in the order written.
   */
  rules?: Record<string, SamplingDecision>;
}

export class SamplingOptionError extends Error {
  readonly kind = 'invalid-option';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
    this.name = 'SamplingOptionError';
  }
}

interface GlobRule {
  glob: RegExp;
  decision: SamplingDecision;
}

/** An object literal or `Object.create(null)`: not an array, a Map or a class instance. */
function isPlainObject(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A distinct id's sampling point in [0, 1): FNV-1a, then MurmurHash3's finalizer. FNV-1a alone
 * barely moves its high bits for short ids that differ in the last characters ("1".."1000",
 * "u_0".."u_99999"): at rate 0.1, ids 1..1000 kept 4.9 %, and at 0.01 none. The finalizer
 * spreads every input bit over the whole word.
 */
export function samplingPoint(distinctId: string): number {
  let h = fnv1a32(distinctId);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x100000000;
}

/** Event names whose throttling windows are kept at once (see `forgetWindows`). */
const MAX_THROTTLE_WINDOWS = 10_000;

/** The keys each kind of decision takes: a misspelt one would otherwise be ignored. */
const DECISION_KEYS: Readonly<Record<string, readonly string[]>> = {
  always: ['kind'],
  never: ['kind'],
  probabilistic: ['kind', 'rate', 'deterministic'],
  throttled: ['kind', 'max', 'windowMs'],
};

function onlyKeys(option: string, value: object, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new SamplingOptionError(`${option}.${key}`, `is not a known option (${keys.join(', ')})`);
    }
  }
}

function validate(option: string, d: SamplingDecision): SamplingDecision {
  if (d === null || typeof d !== 'object')
    throw new SamplingOptionError(option, 'must be a sampling decision object');
  const keys = Object.hasOwn(DECISION_KEYS, d.kind) ? DECISION_KEYS[d.kind] : undefined;
  if (keys !== undefined) onlyKeys(option, d, keys);
  if (d.kind === 'probabilistic' && d.deterministic !== undefined && typeof d.deterministic !== 'boolean')
    throw new SamplingOptionError(`${option}.deterministic`, 'must be a boolean');
  switch (d.kind) {
    case 'always':
    case 'never':
      return d;
    case 'probabilistic':
      if (typeof d.rate !== 'number' || !(d.rate >= 0 && d.rate <= 1))
        throw new SamplingOptionError(`${option}.rate`, 'must be a number from 0 to 1');
      return d;
    case 'throttled':
      if (!Number.isInteger(d.max) || d.max < 0)
        throw new SamplingOptionError(`${option}.max`, 'must be an integer >= 0');
      if (typeof d.windowMs !== 'number' || !(d.windowMs > 0))
        throw new SamplingOptionError(`${option}.windowMs`, 'must be a number > 0');
      return d;
    default:
      throw new SamplingOptionError(`${option}.kind`, 'must be always, never, probabilistic or throttled');
  }
}

export class Sampler {
  private readonly exact = new Map<string, SamplingDecision>();
  private readonly globs: GlobRule[] = [];
  private readonly fallback: SamplingDecision;
  /** Cache of name → decision: event names are few, globs are matched once per name. */
  private readonly byName = new Map<string, SamplingDecision>();
  private readonly windows = new Map<string, { start: number; count: number; windowMs: number }>();
  private lastId: string | undefined;
  private lastPoint = 0;

  constructor(
    options: SamplingOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    if (!isPlainObject(options))
      throw new SamplingOptionError('sampling', 'must be an object with default and rules');
    onlyKeys('sampling', options, ['default', 'rules']);
    // An array was read as rules for the events named "0", "1", …
    if (options.rules !== undefined && !isPlainObject(options.rules))
      throw new SamplingOptionError(
        'sampling.rules',
        'must be an object of event names or globs to decisions (not an array)',
      );
    this.fallback = validate('sampling.default', options.default ?? { kind: 'always' });
    for (const [pattern, decision] of Object.entries(options.rules ?? {})) {
      const d = validate(`sampling.rules["${pattern}"]`, decision);
      if (pattern.includes('*')) {
        const src = pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*');
        this.globs.push({ glob: new RegExp(`^${src}$`), decision: d });
      } else this.exact.set(pattern, d);
    }
  }

  private decisionFor(event: string): SamplingDecision {
    let d = this.byName.get(event);
    if (d === undefined) {
      d = this.exact.get(event) ?? this.firstGlob(event) ?? this.fallback;
      // Bounded so an app inventing names per call cannot grow this without end.
      if (this.byName.size < 10_000) this.byName.set(event, d);
    }
    return d;
  }

  private firstGlob(event: string): SamplingDecision | undefined {
    for (const r of this.globs) if (r.glob.test(event)) return r.decision;
    return undefined;
  }

  /** The distinct id's point in [0, 1), remembered for the last id: most events are one user's. */
  private pointOf(distinctId: string): number {
    if (distinctId !== this.lastId) {
      this.lastId = distinctId;
      this.lastPoint = samplingPoint(distinctId);
    }
    return this.lastPoint;
  }

  /**
   * Makes room for a new name's window: drops the windows that ended, and if names still fill
   * the table (an app putting data in event names), the oldest: its name starts a fresh window
   * when it comes back. Bounded like `byName`, or such an app grew this without end.
   */
  private forgetWindows(nowMs: number): void {
    for (const [name, w] of this.windows) {
      if (nowMs - w.start >= w.windowMs || nowMs < w.start) this.windows.delete(name);
    }
    for (const name of this.windows.keys()) {
      if (this.windows.size < MAX_THROTTLE_WINDOWS * 0.9) break;
      this.windows.delete(name);
    }
  }

  /**
   * true: keep the event. `point`: the sampling point deterministic rules compare with their rate
   * (default the distinct id's, `samplingPoint`); the client passes its session's.
   */
  keep(event: string, distinctId: string, nowMs: number, point?: number): boolean {
    const d = this.decisionFor(event);
    switch (d.kind) {
      case 'always':
        return true;
      case 'never':
        return false;
      case 'probabilistic':
        if (d.deterministic) return (point ?? this.pointOf(distinctId)) < d.rate;
        return this.random() < d.rate;
      case 'throttled': {
        let w = this.windows.get(event);
        // A clock stepped back starts a fresh window: kept, this one would not end for the size
        // of the step, and the event would be dropped all that time.
        if (w === undefined || nowMs - w.start >= d.windowMs || nowMs < w.start) {
          if (w === undefined && this.windows.size >= MAX_THROTTLE_WINDOWS) this.forgetWindows(nowMs);
          w = { start: nowMs, count: 0, windowMs: d.windowMs };
          this.windows.set(event, w);
        }
        if (w.count >= d.max) return false;
        w.count++;
        return true;
      }
    }
  }
}
