import { ConfigError, TaskCancelledError } from './errors.js';
import { type Disposable, Emitter } from './events.js';
import { checkSettings, monitorSettings } from './healthMonitorOptions.js';
import type {
  CheckSettings,
  HealthCheckOptions,
  HealthMonitorOptions,
  MonitorSettings,
} from './healthMonitorOptions.js';
import { httpHealthCheck } from './httpHealthCheck.js';
import { monotonicNow } from './monotonicNow.js';
import type { HealthCheckFunction, HttpHealthCheck } from './httpHealthCheck.js';
import { failure, runHealthCheck } from './runHealthCheck.js';
import type { HealthOutcome, HealthRun, HealthRunResult } from './runHealthCheck.js';

// The largest time a Date holds (ECMA-262 §21.4.1.22); past it toISOString() throws.
const MAX_DATE_MS = 8.64e15;

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'unknown';

export interface HealthCheckReport {
  readonly status: HealthStatus;
  readonly critical: boolean;
  /** ISO time of the last finished run; null before the first. */
  readonly lastCheckedAt: string | null;
  /** Why the last run failed; absent once a run succeeds. */
  readonly lastError?: string;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** How long the last run took; null before the first. */
  readonly latencyMs: number | null;
  /** `details` of the last result, when the check gave some. */
  readonly details?: unknown;
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly checks: Readonly<Record<string, HealthCheckReport>>;
  /** ISO time the report was made. */
  readonly timestamp: string;
}

export type HealthStatusChange =
  | {
      readonly scope: 'check';
      readonly check: string;
      readonly critical: boolean;
      readonly previous: HealthStatus;
      readonly current: HealthStatus;
      /** The failure that made it unhealthy, if that is the change. */
      readonly error?: string;
    }
  | { readonly scope: 'aggregate'; readonly previous: HealthStatus; readonly current: HealthStatus };

interface Check {
  readonly name: string;
  readonly run: HealthCheckFunction;
  readonly settings: CheckSettings;
  status: HealthStatus;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastCheckedAt: number | null;
  lastError: string | undefined;
  latencyMs: number | null;
  details: unknown;
  /** On monotonicNow()'s clock: a wall clock stepped back stretched the grace period by the step. */
  graceEndsAt: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  controller: AbortController | undefined;
  inFlight: Promise<void> | undefined;
  /** Makes the run in flight hold the process open (someone awaits it). */
  keepInFlightAlive: (() => void) | undefined;
  queued: Promise<void> | undefined;
  /** Someone awaits the queued run: it will hold the process open while it runs. */
  queuedAwaited: boolean;
  /** A run abandoned at its timeout whose check has not settled yet. */
  abandoned: Promise<void> | undefined;
  removed: boolean;
}

/**
 * Runs registered health checks on their intervals and keeps a status per check and for the
 * whole: healthy / degraded / unhealthy / unknown.
 *
 * A check is 'unknown' until its first result that counts. A success makes it healthy (or
 * degraded, when the result says `degraded: true`), except that an unhealthy check needs
 * `recoveryThreshold` successes in a row. It turns unhealthy after `failureThreshold` failures
 * in a row, never during the grace period (those failures still count towards the threshold).
 * A check fails when it throws, rejects, returns `false` or `{ ok: false }`, or runs past
 * `timeoutMs` (its signal is then aborted); one that returns nothing passes. A check never
 * overlaps itself: while a run abandoned at its timeout has not settled (a check that ignores
 * its signal), later runs fail at once without starting it again.
 *
 * The aggregate: unhealthy if a critical check is; else degraded if a non-critical check is
 * unhealthy or any check is degraded; else unknown if a critical check (or every check) is;
 * else healthy. With no checks it is healthy.
 */
export class HealthMonitor {
  readonly #checks = new Map<string, Check>();
  /** The policies' emitter: a listener that throws is reported in a microtask, the others still run. */
  readonly #changes = new Emitter<HealthStatusChange>();
  readonly #settings: MonitorSettings;
  #aggregate: HealthStatus = 'healthy';
  #started = false;
  #closed = false;

  constructor(options: HealthMonitorOptions = {}) {
    this.#settings = monitorSettings(options);
  }

  /** The aggregated status. */
  get status(): HealthStatus {
    return this.#aggregate;
  }

  /**
   * Adds a check: a function `(signal) => boolean | { ok, degraded?, details?, message? } | void`,
   * or an HTTP check `{ url, method?, expectedStatus?, headers? }`. On a started monitor it runs
   * at once. Dispose the result to remove it.
   */
  register(
    name: string,
    check: HealthCheckFunction | HttpHealthCheck,
    options: HealthCheckOptions = {},
  ): Disposable {
    if (this.#closed) throw new ConfigError('register', 'the monitor is closed');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', 'must be a non-empty string');
    if (this.#checks.has(name)) throw new ConfigError('name', `a check named ${JSON.stringify(name)} exists`);
    const settings = checkSettings(options, this.#settings.defaults, `${name}.`);
    const run = typeof check === 'function' ? check : httpHealthCheck(check, this.#settings.fetch);
    const state: Check = {
      name,
      run,
      settings,
      status: 'unknown',
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      lastCheckedAt: null,
      lastError: undefined,
      latencyMs: null,
      details: undefined,
      graceEndsAt: undefined,
      timer: undefined,
      controller: undefined,
      inFlight: undefined,
      keepInFlightAlive: undefined,
      queued: undefined,
      queuedAwaited: false,
      abandoned: undefined,
      removed: false,
    };
    this.#checks.set(name, state);
    this.#updateAggregate();
    if (this.#started) this.#runInBackground(state);
    // Only this registration: a spent handle must not remove a newer check of the same name.
    return {
      dispose: () => {
        if (this.#checks.get(name) === state) this.unregister(name);
      },
    };
  }

  /** Removes a check, stopping its timer and aborting a run in flight. False if there was none. */
  unregister(name: string): boolean {
    const state = this.#checks.get(name);
    if (state === undefined) return false;
    this.#checks.delete(name);
    this.#stop(state);
    this.#updateAggregate();
    return true;
  }

  /** Runs every check now and then on its interval. Calling it again does nothing. */
  start(): void {
    if (this.#closed) throw new ConfigError('start', 'the monitor is closed');
    if (this.#started) return;
    this.#started = true;
    for (const state of this.#checks.values()) this.#runInBackground(state);
  }

  /**
   * Runs every check (or the one named) once, now, and resolves with the report. A check that
   * is running is not started twice: its run finishes, then one fresh run starts for every
   * caller waiting. After `close()` it only reports.
   */
  async runNow(name?: string): Promise<HealthReport> {
    if (this.#closed) return this.report();
    if (name !== undefined) {
      const state = this.#checks.get(name);
      if (state === undefined) throw new ConfigError('name', `no check named ${JSON.stringify(name)}`);
      await this.#run(state, true);
    } else {
      await Promise.all([...this.#checks.values()].map((state) => this.#run(state, true)));
    }
    return this.report();
  }

  report(): HealthReport {
    const checks: Record<string, HealthCheckReport> = {};
    for (const state of this.#checks.values()) {
      const entry: { -readonly [K in keyof HealthCheckReport]: HealthCheckReport[K] } = {
        status: state.status,
        critical: state.settings.critical,
        lastCheckedAt: state.lastCheckedAt === null ? null : new Date(state.lastCheckedAt).toISOString(),
        consecutiveFailures: state.consecutiveFailures,
        consecutiveSuccesses: state.consecutiveSuccesses,
        latencyMs: state.latencyMs,
      };
      if (state.lastError !== undefined) entry.lastError = state.lastError;
      if (state.details !== undefined) entry.details = state.details;
      // defineProperty: a check named "__proto__" is a key like any other.
      Object.defineProperty(checks, state.name, {
        value: entry,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { status: this.#aggregate, checks, timestamp: new Date(this.#now()).toISOString() };
  }

  /**
   * Called on every status change of a check, then of the aggregate. A listener that throws keeps
   * neither the monitor nor the other listeners from going on; its error is rethrown in a microtask.
   */
  onStatusChange(listener: (change: HealthStatusChange) => void): Disposable {
    return this.#changes.subscribe(listener);
  }

  /** Stops every timer, aborts every run in flight and drops every listener. Final. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const running: Promise<void>[] = [];
    for (const state of this.#checks.values()) {
      if (state.inFlight !== undefined) running.push(state.inFlight);
      this.#stop(state);
    }
    this.#changes.clear();
    // Runs settle as soon as they are aborted, even those of a check that ignores its signal.
    await Promise.all(running);
  }

  /**
   * The option's clock, for the times a report shows (never for a duration: see graceEndsAt),
   * or Date.now() for a reading that throws or is no time a Date can hold: a broken clock must
   * not crash a background run or make report() throw.
   */
  #now(): number {
    let now: unknown;
    try {
      now = this.#settings.now();
    } catch {
      return Date.now();
    }
    return typeof now === 'number' && Math.abs(now) <= MAX_DATE_MS ? now : Date.now();
  }

  /** A run nobody awaits: a failure in it must not surface as an unhandled rejection. */
  #runInBackground(state: Check): void {
    this.#run(state).catch(() => {});
  }

  #stop(state: Check): void {
    state.removed = true;
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    state.controller?.abort(new TaskCancelledError('health monitor closed'));
  }

  /**
   * Runs a check or, if it is running, once more after that run: never two at a time. An
   * `awaited` run (runNow) keeps the process alive until it ends, the run it waits for
   * included, so its caller always gets a report; a background run (interval, start) never does.
   */
  #run(state: Check, awaited = false): Promise<void> {
    if (awaited) state.keepInFlightAlive?.();
    if (state.queued !== undefined) {
      state.queuedAwaited ||= awaited;
      return state.queued;
    }
    if (state.inFlight !== undefined) {
      state.queuedAwaited = awaited;
      state.queued = state.inFlight.then(() => {
        state.queued = undefined;
        return this.#runOnce(state, state.queuedAwaited);
      });
      return state.queued;
    }
    return this.#runOnce(state, awaited);
  }

  #runOnce(state: Check, awaited: boolean): Promise<void> {
    if (this.#closed || state.removed) return Promise.resolve();
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    state.graceEndsAt ??= monotonicNow() + this.#settings.gracePeriodMs;
    let result: Promise<HealthRunResult | undefined>;
    if (state.abandoned !== undefined) {
      result = Promise.resolve({
        outcome: failure('the previous run has not settled since it timed out'),
        latencyMs: 0,
      });
    } else {
      const controller = new AbortController();
      state.controller = controller;
      const running: HealthRun = runHealthCheck(state.run, state.settings.timeoutMs, controller, awaited);
      state.keepInFlightAlive = () => running.keepAlive();
      result = running.result;
    }
    const run = result.then((done) => {
      state.inFlight = undefined;
      state.keepInFlightAlive = undefined;
      state.controller = undefined;
      if (done === undefined || this.#closed || state.removed) return;
      if (done.abandoned !== undefined) {
        const abandoned = done.abandoned.then(() => {
          if (state.abandoned === abandoned) state.abandoned = undefined;
        });
        state.abandoned = abandoned;
      }
      try {
        this.#record(state, done.outcome, done.latencyMs);
      } finally {
        // Whatever recording did, the check keeps its schedule (none at intervalMs 0).
        if (this.#started && state.settings.intervalMs > 0) {
          // Start to start, so a slow check does not drift; never less than zero.
          state.timer = setTimeout(
            () => this.#runInBackground(state),
            Math.max(0, state.settings.intervalMs - done.latencyMs),
          );
          (state.timer as any).unref?.();
        }
      }
    });
    state.inFlight = run;
    return run;
  }

  #record(state: Check, outcome: HealthOutcome, latencyMs: number): void {
    const previous = state.status;
    state.lastCheckedAt = this.#now();
    state.latencyMs = latencyMs;
    state.details = outcome.details;
    const { failureThreshold, recoveryThreshold } = state.settings;
    if (outcome.ok) {
      state.consecutiveSuccesses++;
      state.consecutiveFailures = 0;
      state.lastError = undefined;
      if (previous !== 'unhealthy' || state.consecutiveSuccesses >= recoveryThreshold) {
        state.status = outcome.degraded ? 'degraded' : 'healthy';
      }
    } else {
      state.consecutiveFailures++;
      state.consecutiveSuccesses = 0;
      state.lastError = outcome.error;
      const inGrace = state.graceEndsAt !== undefined && monotonicNow() < state.graceEndsAt;
      if (!inGrace && state.consecutiveFailures >= failureThreshold) state.status = 'unhealthy';
    }
    if (state.status !== previous) {
      this.#emit({
        scope: 'check',
        check: state.name,
        critical: state.settings.critical,
        previous,
        current: state.status,
        ...(state.lastError === undefined ? {} : { error: state.lastError }),
      });
    }
    this.#updateAggregate();
  }

  #updateAggregate(): void {
    const previous = this.#aggregate;
    const current = aggregate(this.#checks.values());
    if (current === previous) return;
    this.#aggregate = current;
    this.#emit({ scope: 'aggregate', previous, current });
  }

  #emit(change: HealthStatusChange): void {
    this.#changes.emit(change);
  }
}

function aggregate(checks: Iterable<Check>): HealthStatus {
  let any = false;
  let degraded = false;
  let unknownCritical = false;
  let allUnknown = true;
  for (const { status, settings } of checks) {
    any = true;
    if (status !== 'unknown') allUnknown = false;
    if (status === 'unhealthy') {
      if (settings.critical) return 'unhealthy';
      degraded = true;
    } else if (status === 'degraded') degraded = true;
    else if (status === 'unknown' && settings.critical) unknownCritical = true;
  }
  if (!any) return 'healthy';
  if (degraded) return 'degraded';
  return unknownCritical || allUnknown ? 'unknown' : 'healthy';
}
