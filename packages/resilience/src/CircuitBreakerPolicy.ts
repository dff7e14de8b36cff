import type { Backoff, BackoffSequence } from './backoff.js';
import { constantBackoff, isBackoff } from './backoff.js';
import type { Breaker } from './Breaker.js';
import { isAborted } from './CallContext.js';
import { BrokenCircuitError, ConfigError, IsolatedCircuitError } from './errors.js';
import type { Disposable, EventSubscriber } from './events.js';
import { Emitter } from './events.js';
import { monotonicNow } from './monotonicNow.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';
import { checkDelay, checkFunction, checkInteger, checkKnown, checkObject, clampDelay } from './validate.js';

export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface CircuitBreakerOptions {
  /** When to open: `new ConsecutiveBreaker(n)` or `new SamplingBreaker({...})`. */
  readonly breaker: Breaker;
  /** How long the circuit stays open before a probe. Default 10 000 ms. */
  readonly halfOpenAfterMs?: number;
  /** Or a backoff: each failed probe opens the circuit for the next delay of the sequence. */
  readonly halfOpenAfter?: Backoff;
  /** Calls let through at once while half-open. Default 1. */
  readonly halfOpenMaxProbes?: number;
  /** Successful probes needed to close. Default 1. */
  readonly successThreshold?: number;
  /**
   * Which errors count as failures. Others are ignored: neither success nor failure. `aborted`
   * is whether the call's signal had aborted when it failed (the caller's signal or an
   * enclosing timeout). Default `isCircuitFailure`: every error except a bulkhead rejection and
   * a cancellation, and none while aborted (the caller gave up, the dependency did not fail).
   */
  readonly isFailure?: (error: unknown, aborted: boolean) => boolean;
  /** A `snapshot()` saved earlier, e.g. by the previous run of a CLI. */
  readonly initialState?: CircuitBreakerSnapshot;
}

/** JSON-safe state. Times are wall-clock ms since the epoch, so they mean the same in a new process. */
export interface CircuitBreakerSnapshot {
  readonly version: 1;
  readonly state: CircuitState;
  /** Since when the circuit has been in `state`. */
  readonly since: number;
  /** When open: calls are refused until then. */
  readonly openUntil: number;
  /** How many times in a row the circuit opened without closing in between. */
  readonly openings: number;
  readonly breaker: unknown;
}

export interface CircuitBreakerStats {
  readonly calls: number;
  readonly successes: number;
  readonly failures: number;
  /** Calls whose error `isFailure` did not count. */
  readonly ignored: number;
  /** Calls refused without running. */
  readonly rejections: number;
  readonly state: CircuitState;
  readonly timeInStateMs: number;
}

export interface StateChangeEvent {
  readonly from: CircuitState;
  readonly to: CircuitState;
}
export interface BreakEvent {
  /** The error that opened the circuit; absent when isolated by hand. */
  readonly error?: unknown;
  readonly isolated: boolean;
  /** How long it stays open, ms (Infinity when isolated). */
  readonly openForMs: number;
}
export interface FailureEvent {
  readonly error: unknown;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
const NAMES: readonly CircuitState[] = ['closed', 'open', 'half-open', 'isolated'];
/**
 * The least time a half-open probe holds its slot before a new probe may take it. With a short
 * open period (0 is allowed) a slot was freed on every call, and any number of probes ran at once.
 */
export const PROBE_SLOT_MIN_MS = 1_000;
const BREAKER_METHODS = ['success', 'failure', 'reset', 'toJSON', 'restore'] as const;

const KNOWN = [
  'breaker',
  'halfOpenAfterMs',
  'halfOpenAfter',
  'halfOpenMaxProbes',
  'successThreshold',
  'isFailure',
  'initialState',
];

/**
 * The default `isFailure`: an error counts unless it is a bulkhead rejection or a cancellation,
 * or the call's signal had aborted (`aborted`, false when not given).
 */
export function isCircuitFailure(error: unknown, aborted = false): boolean {
  if (aborted) return false;
  const kind = (error as { kind?: unknown } | null)?.kind;
  return kind !== 'bulkhead-rejected' && kind !== 'cancelled';
}

/**
 * Stops calling a dependency that keeps failing. Open → half-open is decided by the clock on
 * the next call, never by a timer, so nothing keeps a process alive and a short-lived process
 * sees the right state. While half-open, `halfOpenMaxProbes` calls go through and the rest fail
 * fast; if the probes hang for another open period (at least PROBE_SLOT_MIN_MS), new probes are
 * let through, and the late answers of the earlier ones still count.
 */
export class CircuitBreakerPolicy extends PolicyBase {
  private readonly breaker: Breaker;
  private readonly openBackoff: Backoff;
  private readonly halfOpenMaxProbes: number;
  private readonly successThreshold: number;
  private readonly isFailure: (error: unknown, aborted: boolean) => boolean;

  private code = CLOSED;
  /** Bumped on every state change: outcomes of calls admitted in an older state are not counted. */
  private generation = 0;
  /** Wall-clock time of the last state change, for the snapshot. */
  private since = Date.now();
  /**
   * The same on monotonicNow()'s clock, as is `openUntil`: decisions in this process follow
   * real time. On the wall clock, a step back held an open circuit up to one period more, and
   * one forward let a probe through at once. The snapshot converts both to wall-clock times.
   */
  private sinceMono = monotonicNow();
  /** When open: calls are refused until then; when half-open: when hung probes give up their slots. */
  private openUntil = 0;
  private openings = 0;
  private sequence: BackoffSequence | undefined;
  private lastOpenMs = 0;
  /** Probe slots taken in the current round (see probeRound). */
  private probes = 0;
  /**
   * Bumped when hung probes give up their slots: a probe of an older round no longer holds a
   * slot, but its answer still counts (a dependency that came back slow must be able to close
   * the circuit: discarding late successes kept it half-open for as long as traffic came).
   */
  private probeRound = 1;
  private probeSuccesses = 0;
  private isolations = 0;
  /** Bumped whenever an isolation ends: handles from an earlier one no longer count. */
  private isolation = 0;

  private calls = 0;
  private successes = 0;
  private failures = 0;
  private ignored = 0;
  private rejections = 0;

  private readonly stateEvents = new Emitter<StateChangeEvent>();
  private readonly breakEvents = new Emitter<BreakEvent>();
  private readonly halfOpenEvents = new Emitter<void>();
  private readonly resetEvents = new Emitter<void>();
  private readonly successEvents = new Emitter<void>();
  private readonly failureEvents = new Emitter<FailureEvent>();

  readonly onStateChange: EventSubscriber<StateChangeEvent> = this.stateEvents.subscribe;
  /** The circuit opened (or was isolated). */
  readonly onBreak: EventSubscriber<BreakEvent> = this.breakEvents.subscribe;
  readonly onHalfOpen: EventSubscriber<void> = this.halfOpenEvents.subscribe;
  /** The circuit closed again. */
  readonly onReset: EventSubscriber<void> = this.resetEvents.subscribe;
  readonly onSuccess: EventSubscriber<void> = this.successEvents.subscribe;
  readonly onFailure: EventSubscriber<FailureEvent> = this.failureEvents.subscribe;

  constructor(options: CircuitBreakerOptions) {
    super();
    checkObject('circuitBreaker options', options);
    checkKnown('circuitBreaker', options, KNOWN);
    const breaker = options.breaker;
    // All of Breaker: one without reset() failed every successful probe (TypeError), for good.
    if (
      breaker === null ||
      typeof breaker !== 'object' ||
      BREAKER_METHODS.some((m) => typeof (breaker as unknown as Record<string, unknown>)[m] !== 'function')
    ) {
      throw new ConfigError(
        'breaker',
        `must be a ConsecutiveBreaker, a SamplingBreaker or a Breaker (${BREAKER_METHODS.join(', ')})`,
      );
    }
    this.breaker = breaker;
    if (options.halfOpenAfter !== undefined && options.halfOpenAfterMs !== undefined) {
      throw new ConfigError('halfOpenAfter', 'give halfOpenAfter or halfOpenAfterMs, not both');
    }
    if (options.halfOpenAfter !== undefined) {
      if (!isBackoff(options.halfOpenAfter)) throw new ConfigError('halfOpenAfter', 'must be a Backoff');
      this.openBackoff = options.halfOpenAfter;
    } else {
      this.openBackoff = constantBackoff(checkDelay('halfOpenAfterMs', options.halfOpenAfterMs ?? 10_000));
    }
    this.halfOpenMaxProbes = checkInteger('halfOpenMaxProbes', options.halfOpenMaxProbes ?? 1, 1);
    this.successThreshold = checkInteger('successThreshold', options.successThreshold ?? 1, 1);
    this.isFailure = checkFunction('isFailure', options.isFailure ?? isCircuitFailure);
    if (options.initialState !== undefined) this.restore(options.initialState);
  }

  get state(): CircuitState {
    return NAMES[this.code]!;
  }

  /** @internal */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    // 0: not a probe; else the probe round whose slot the call took.
    let probe = 0;
    if (this.code !== CLOSED) probe = this.admit();
    const generation = this.generation;
    this.calls++;
    let value: T;
    try {
      value = await next(fn, context, chain, index);
    } catch (error) {
      this.settleFailure(error, generation, probe, context);
      throw error;
    }
    this.settleSuccess(generation, probe);
    return value;
  }

  /** Refuses the call, or answers the probe round it goes through in (0: not a probe). */
  private admit(): number {
    if (this.code === ISOLATED) {
      this.rejections++;
      throw new IsolatedCircuitError();
    }
    const now = monotonicNow();
    if (this.code === OPEN) {
      if (now < this.openUntil) {
        this.rejections++;
        throw new BrokenCircuitError(this.openUntil - now);
      }
      const from = this.code;
      this.enter(HALF_OPEN, now);
      // A probe that hangs holds its slot only until this passes.
      this.openUntil = now + this.probeSlotMs();
      // This call's slot is taken before any listener hears of the change: a call a listener
      // starts must find it taken, or half-open would let more than halfOpenMaxProbes through.
      this.probes = 1;
      const generation = this.generation;
      this.announce(from);
      this.halfOpenEvents.emit();
      // A listener changed the circuit (isolate(), reset()): this call follows the new state,
      // or the probe's failure would undo it.
      if (this.generation !== generation) return this.admitAfterListeners();
      return this.probeRound;
    } else if (this.probes >= this.halfOpenMaxProbes) {
      if (now < this.openUntil) {
        this.rejections++;
        throw new BrokenCircuitError(this.openUntil - now);
      }
      // The probes hung for a whole slot period: their slots go to new probes.
      this.probeRound++;
      this.probes = 0;
      this.openUntil = now + this.probeSlotMs();
    }
    this.probes++;
    return this.probeRound;
  }

  /** How long a probe holds its slot: an open period, and never so short that probes pile up. */
  private probeSlotMs(): number {
    return Math.max(this.lastOpenMs, PROBE_SLOT_MIN_MS);
  }

  private admitAfterListeners(): number {
    if (this.code === CLOSED) return 0;
    if (this.code === HALF_OPEN) return this.admit();
    this.rejections++;
    if (this.code === ISOLATED) throw new IsolatedCircuitError();
    throw new BrokenCircuitError(Math.max(0, this.openUntil - monotonicNow()));
  }

  // A call admitted before the circuit changed state (generation) is counted and heard of like
  // any other, but its outcome no longer decides the circuit: ten calls in flight when the fifth
  // failure opened it left seven failures out of stats() and onFailure.
  private settleSuccess(generation: number, probe: number): void {
    this.successes++;
    if (generation === this.generation) {
      if (probe !== 0) {
        if (probe === this.probeRound) this.probes--;
        if (++this.probeSuccesses >= this.successThreshold) this.close();
      } else this.breaker.success();
    }
    this.successEvents.emit();
  }

  private settleFailure(error: unknown, generation: number, probe: number, context: PolicyContext): void {
    const current = generation === this.generation;
    // Whether an aborted call failed is the predicate's call (the default says no).
    if (!this.countsAsFailure(error, isAborted(context))) {
      this.ignored++;
      if (current && probe !== 0 && probe === this.probeRound) this.probes--;
      return;
    }
    this.failures++;
    this.failureEvents.emit({ error });
    // A listener that isolated or reset the circuit decided it: this failure no longer does.
    if (current && generation === this.generation && (probe !== 0 || this.breaker.failure()))
      this.open(error);
  }

  /** A predicate that throws must not leave a probe slot taken: its error counts as a failure. */
  private countsAsFailure(error: unknown, aborted: boolean): boolean {
    try {
      return this.isFailure(error, aborted);
    } catch {
      return true;
    }
  }

  private open(error: unknown): void {
    const now = monotonicNow();
    this.sequence ??= this.openBackoff.start();
    // A Backoff of the app's own may answer anything: kept to what a timer can wait.
    this.lastOpenMs = clampDelay(this.sequence.next());
    this.openings++;
    this.openUntil = now + this.lastOpenMs;
    this.transition(OPEN, now);
    if (this.breakEvents.listening)
      this.breakEvents.emit({ error, isolated: false, openForMs: this.lastOpenMs });
  }

  private close(): void {
    this.breaker.reset();
    this.sequence = undefined;
    this.openings = 0;
    this.openUntil = 0;
    this.isolations = 0;
    this.isolation++;
    this.transition(CLOSED, monotonicNow());
    this.resetEvents.emit();
  }

  private transition(code: number, now: number): void {
    const from = this.code;
    this.enter(code, now);
    this.announce(from);
  }

  /** The state change itself, without telling anyone. `now` is on monotonicNow()'s clock. */
  private enter(code: number, now: number): void {
    this.code = code;
    this.generation++;
    this.since = Date.now();
    this.sinceMono = now;
    this.probes = 0;
    this.probeSuccesses = 0;
  }

  private announce(from: number): void {
    if (from !== this.code && this.stateEvents.listening) {
      this.stateEvents.emit({ from: NAMES[from]!, to: NAMES[this.code]! });
    }
  }

  /**
   * Holds the circuit open until every handle is disposed (or `reset()`): for an operator who
   * knows the dependency is down, or a drill.
   */
  isolate(): Disposable {
    this.isolations++;
    if (this.code !== ISOLATED) {
      this.transition(ISOLATED, monotonicNow());
      if (this.breakEvents.listening) {
        this.breakEvents.emit({ isolated: true, openForMs: Number.POSITIVE_INFINITY });
      }
    }
    let active = true;
    const isolation = this.isolation;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        // A handle from before a reset() belongs to an isolation that already ended.
        if (isolation !== this.isolation) return;
        if (this.code === ISOLATED && --this.isolations === 0) this.close();
      },
    };
  }

  /** Closes the circuit and forgets every failure, whatever the state. */
  reset(): void {
    this.close();
  }

  stats(): CircuitBreakerStats {
    return {
      calls: this.calls,
      successes: this.successes,
      failures: this.failures,
      ignored: this.ignored,
      rejections: this.rejections,
      state: this.state,
      timeInStateMs: Math.max(0, monotonicNow() - this.sinceMono),
    };
  }

  snapshot(): CircuitBreakerSnapshot {
    return {
      version: 1,
      state: this.state,
      since: this.since,
      // As a wall-clock time: what is left of the period, from the wall clock's now.
      openUntil:
        this.code === OPEN || this.code === HALF_OPEN ? Date.now() + (this.openUntil - monotonicNow()) : 0,
      openings: this.openings,
      breaker: this.breaker.toJSON(),
    };
  }

  /** Same as `snapshot()`, so `JSON.stringify(policy)` saves the state. */
  toJSON(): CircuitBreakerSnapshot {
    return this.snapshot();
  }

  private restore(snapshot: CircuitBreakerSnapshot): void {
    const s = snapshot as Partial<CircuitBreakerSnapshot> | null;
    if (s === null || typeof s !== 'object')
      throw new ConfigError('initialState', 'must be a snapshot object');
    if (s.version !== 1) throw new ConfigError('initialState.version', 'must be 1');
    const code = NAMES.indexOf(s.state as CircuitState);
    if (code < 0) throw new ConfigError('initialState.state', `must be one of ${NAMES.join(', ')}`);
    for (const key of ['since', 'openUntil'] as const) {
      if (typeof s[key] !== 'number' || !Number.isFinite(s[key])) {
        throw new ConfigError(`initialState.${key}`, 'must be a time in ms since the epoch');
      }
    }
    if (!Number.isInteger(s.openings) || s.openings! < 0) {
      throw new ConfigError('initialState.openings', 'must be an integer >= 0');
    }
    this.breaker.restore(s.breaker, 'initialState.breaker');
    const wallNow = Date.now();
    this.since = s.since!;
    this.sinceMono = monotonicNow() - Math.max(0, wallNow - this.since);
    this.openings = s.openings!;
    if (this.openings > 0) {
      // Replay the open-duration sequence so backing off goes on where the last process left it.
      this.sequence = this.openBackoff.start();
      for (let i = 0; i < Math.min(this.openings, 64); i++) this.lastOpenMs = this.sequence.next();
    } else this.lastOpenMs = this.openBackoff.start().next();
    if (code === CLOSED) return;
    if (code === ISOLATED) {
      // The handle died with the old process: only reset() ends this isolation.
      this.code = ISOLATED;
      this.isolations = 1;
      return;
    }
    // Half-open in the old process: its probes died with it, so the next call probes again.
    this.code = OPEN;
    // A saved time far ahead (a clock that jumped, a hand-edited file) never holds longer than one period.
    const left =
      code === OPEN ? Math.min(s.openUntil! - wallNow, this.lastOpenMs) : Math.min(s.openUntil! - wallNow, 0);
    this.openUntil = monotonicNow() + left;
  }
}

export function circuitBreaker(options: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
