import { TaskTimeoutError } from './errors.js';
import type { HealthCheckFunction, HealthCheckResult } from './httpHealthCheck.js';
import { monotonicNow } from './monotonicNow.js';

/** One run of a check, reduced to what the monitor records. */
export interface HealthOutcome {
  readonly ok: boolean;
  readonly degraded: boolean;
  readonly details: unknown;
  readonly error: string | undefined;
}

export interface HealthRunResult {
  readonly outcome: HealthOutcome;
  readonly latencyMs: number;
  /**
   * Present when the run timed out: settles once the abandoned check's own promise does.
   * Until then the check must not be started again, or a check that ignores its signal
   * would pile up copies of itself.
   */
  readonly abandoned?: Promise<void>;
}

/** One run in progress: its result, and a way to make it hold the process open until it ends. */
export interface HealthRun {
  readonly result: Promise<HealthRunResult | undefined>;
  /**
   * Keeps the timeout timer ref'd from now on, so someone awaiting the result gets it even when
   * nothing else keeps the process alive and the check never settles. Idempotent.
   */
  keepAlive(): void;
}

/**
 * Runs `check` once with `controller.signal`. Resolves with a failure when it throws, rejects,
 * answers something that throws as it is read, or is still running after `timeoutMs` (then the
 * signal is aborted with a TaskTimeoutError), and with `undefined` at once when someone else
 * aborts `controller`: a cancelled run records nothing. The timer is cleared, and the abort
 * listener removed, in every case. The timer is unref'd (a background run never keeps a process
 * alive) unless `keepAlive` is true or `keepAlive()` is called: a run someone awaits must end.
 */
export function runHealthCheck(
  check: HealthCheckFunction,
  timeoutMs: number,
  controller: AbortController,
  keepAlive = false,
): HealthRun {
  const started = monotonicNow();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let held = keepAlive;
  let done = false;
  const result = new Promise<HealthRunResult | undefined>((resolve) => {
    let pending: Promise<HealthCheckResult> | undefined;
    const finish = (outcome: HealthOutcome | undefined, abandoned?: Promise<void>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      controller.signal.removeEventListener('abort', onCancel);
      if (outcome === undefined) resolve(undefined);
      else resolve({ outcome, latencyMs: monotonicNow() - started, ...(abandoned ? { abandoned } : {}) });
    };
    const onCancel = (): void => finish(undefined);
    timer = setTimeout(() => {
      const abandoned = (pending ?? Promise.resolve()).then(
        () => {},
        () => {},
      );
      finish(failure(new TaskTimeoutError(timeoutMs).message), abandoned);
      controller.abort(new TaskTimeoutError(timeoutMs));
    }, timeoutMs);
    if (!held) (timer as any).unref?.();
    if (controller.signal.aborted) return finish(undefined);
    controller.signal.addEventListener('abort', onCancel);
    try {
      pending = Promise.resolve(check(controller.signal));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        // A result can throw as it is read (an `ok` getter, a Proxy): that is the check failing,
        // never a rejection nobody handles.
        let outcome: HealthOutcome;
        try {
          outcome = toOutcome(value);
        } catch (error) {
          outcome = failure(`reading the check's result threw: ${describe(error)}`);
        }
        finish(outcome);
      },
      (error: unknown) => finish(failure(describe(error))),
    );
  });
  return {
    result,
    keepAlive() {
      if (held || done) return;
      held = true;
      (timer as any)?.ref?.();
    },
  };
}

export function failure(error: string): HealthOutcome {
  return { ok: false, degraded: false, details: undefined, error };
}

function toOutcome(value: HealthCheckResult): HealthOutcome {
  if (value === undefined || value === true) {
    return { ok: true, degraded: false, details: undefined, error: undefined };
  }
  if (value === false) return failure('the check returned false');
  if (value !== null && typeof value === 'object' && typeof value.ok === 'boolean') {
    if (value.ok) {
      return { ok: true, degraded: value.degraded === true, details: value.details, error: undefined };
    }
    const message = typeof value.message === 'string' ? value.message : 'the check returned ok: false';
    return { ok: false, degraded: false, details: value.details, error: message };
  }
  return failure('the check returned neither a boolean nor { ok }');
}

/** What went wrong, in words; never throws (an error's getters or `toString` may). */
function describe(error: unknown): string {
  try {
    if (error instanceof Error) {
      // The code says more than fetch's "fetch failed": e.g. ECONNREFUSED from its cause.
      const code = readCode(error) ?? readCode((error as { cause?: unknown }).cause);
      return `${String(error.name)}: ${String(error.message)}${code === undefined ? '' : ` (${code})`}`;
    }
    return String(error);
  } catch {
    return 'an error that could not be described';
  }
}

function readCode(error: unknown): string | undefined {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
