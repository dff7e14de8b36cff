import { TaskTimeoutError } from './errors.js';
import type { HealthCheckFunction, HealthCheckResult } from './httpHealthCheck.js';

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

/**
 * Runs `check` once with `controller.signal`. Resolves with a failure when it throws, rejects
 * or is still running after `timeoutMs` (then the signal is aborted with a TaskTimeoutError),
 * and with `undefined` at once when someone else aborts `controller`: a cancelled run records
 * nothing. The timer is unref'd and cleared, and the abort listener removed, in every case.
 */
export function runHealthCheck(
  check: HealthCheckFunction,
  timeoutMs: number,
  controller: AbortController,
): Promise<HealthRunResult | undefined> {
  const started = clock();
  return new Promise((resolve) => {
    let done = false;
    let pending: Promise<HealthCheckResult> | undefined;
    const finish = (outcome: HealthOutcome | undefined, abandoned?: Promise<void>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      controller.signal.removeEventListener('abort', onCancel);
      if (outcome === undefined) resolve(undefined);
      else resolve({ outcome, latencyMs: clock() - started, ...(abandoned ? { abandoned } : {}) });
    };
    const onCancel = (): void => finish(undefined);
    const timer = setTimeout(() => {
      const abandoned = (pending ?? Promise.resolve()).then(
        () => {},
        () => {},
      );
      finish(failure(new TaskTimeoutError(timeoutMs).message), abandoned);
      controller.abort(new TaskTimeoutError(timeoutMs));
    }, timeoutMs);
    (timer as any).unref?.();
    if (controller.signal.aborted) return finish(undefined);
    controller.signal.addEventListener('abort', onCancel);
    try {
      pending = Promise.resolve(check(controller.signal));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => finish(toOutcome(value)),
      (error: unknown) => finish(failure(describe(error))),
    );
  });
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

function describe(error: unknown): string {
  if (error instanceof Error) {
    // The code says more than fetch's "fetch failed": e.g. ECONNREFUSED from its cause.
    const code = readCode(error) ?? readCode((error as { cause?: unknown }).cause);
    return `${error.name}: ${error.message}${code === undefined ? '' : ` (${code})`}`;
  }
  return String(error);
}

function readCode(error: unknown): string | undefined {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function clock(): number {
  return globalThis.performance?.now() ?? Date.now();
}
